"""Issue 23, part 5: a job file nested too deeply, and output names or paths longer than the file
system takes (the name itself, or a name vidx derives from it: ``OUT.parts``, ``.OUT.vidx-lock``,
``OUT.json.part``, ``OUT.compare.EXT.part``), are one line and exit 2, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

import vidx
from tests.vidx.safety.helpers import assert_user_error, snapshot
from tests.vidx.safety.helpers import vidx as run
from vidx.errors import OptionError
from vidx.io.names import NAME_MAX, PATH_MAX
from vidx.jobs.jobfile import load_job

DEPTH = 2000


def deep_jobs() -> dict[str, str]:
    return {
        "arrays": f"[shared]\nstrength = {'[' * DEPTH}{']' * DEPTH}\n[variants.a]\nstyle = 1\n",
        "tables": f"[variants.a]\nstyle = {'{a=' * DEPTH}1{'}' * DEPTH}\n",
        "shallower": f"[variants.a]\nlora = {'[' * 900}{']' * 900}\n",
    }


@pytest.mark.parametrize("kind", deep_jobs())
def test_deeply_nested_job_file(clip, tmp_path: Path, kind: str) -> None:
    src = clip("in.mp4", frames=6)
    job = tmp_path / "deep.toml"
    job.write_text(deep_jobs()[kind])
    before = snapshot(tmp_path)
    result = run("variants", src, "--job", job, "-o", tmp_path / "out")
    line = assert_user_error(result, str(job))
    if kind != "shallower":  # (900 deep parses; walking it may or may not recurse too far)
        assert "nested too deeply" in line, line
    assert snapshot(tmp_path) == before, line


def test_deeply_nested_job_file_through_the_parser(tmp_path: Path) -> None:
    """The web UI and the API read job files through the same parser."""
    job = tmp_path / "deep.toml"
    job.write_text(deep_jobs()["arrays"])
    with pytest.raises(OptionError, match="nested too deeply"):
        load_job(job)


def refused(clip, tmp_path: Path, output: str | Path, *extra: str) -> str:
    src = clip("in.mp4", frames=6)
    before = snapshot(tmp_path)
    result = run("upscale", src, "-o", output, "--segment-frames", "3", *extra)
    line = assert_user_error(result, "-o ", "too long")
    assert snapshot(tmp_path) == before, line
    return line


@pytest.mark.parametrize("length", [250, 255, 256, 300])
def test_long_output_name(clip, tmp_path: Path, length: int) -> None:
    name = "a" * (length - len(".mp4")) + ".mp4"
    line = refused(clip, tmp_path, tmp_path / name)
    assert f"over the file system's limit of {NAME_MAX}" in line
    if length <= NAME_MAX:  # the name fits; a name vidx derives from it does not
        assert "its " in line, line


def test_long_derived_compare_name(clip, tmp_path: Path) -> None:
    """``OUT.compare.mp4.part`` is the longest derived name with --compare."""
    name = "a" * 240 + ".mp4"  # the lock file (+11) fits, .compare.mp4.part (+13) does not
    line = refused(clip, tmp_path, tmp_path / name, "--compare", "side")
    assert "compare temp file" in line


def test_longest_name_that_fits_is_written(clip, tmp_path: Path) -> None:
    """The check is not stricter than the file system: the lock file ``.OUT.vidx-lock`` is the
    longest derived name without --compare, and at exactly NAME_MAX bytes the job runs."""
    src = clip("in.mp4", frames=6)
    name = "a" * (NAME_MAX - len("..mp4.vidx-lock")) + ".mp4"
    result = run("upscale", src, "-o", tmp_path / name, "--segment-frames", "3")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / name).is_file() and (tmp_path / f"{name}.json").is_file()


def test_path_longer_than_path_max(clip, tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["b" * 200] * (PATH_MAX // 200 + 1))
    line = refused(clip, tmp_path, deep / "out.mp4")
    assert f"limit of {PATH_MAX - 1}" in line


def test_path_whose_parts_folder_files_do_not_fit(clip, tmp_path: Path) -> None:
    """The output's path fits, its lock file's too; the segment files inside ``OUT.parts/``
    (``seg000000.state.part``, 27 bytes more than the output) would not."""
    target = PATH_MAX - 1 - 15
    folder = tmp_path.absolute()
    while len(str(folder)) + 201 + 10 < target:
        folder = folder / ("c" * 200)
    name = "d" * (target - len(str(folder)) - 1 - len(".mp4")) + ".mp4"
    assert len(str(folder / name)) == target
    line = refused(clip, tmp_path, folder / name)
    assert "parts folder" in line


def test_long_folder_name_in_the_path(clip, tmp_path: Path) -> None:
    line = refused(clip, tmp_path, tmp_path / ("e" * 300) / "out.mp4")
    assert "folder name" in line


def test_long_names_for_a_batch_and_for_variants(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    job = tmp_path / "job.toml"
    job.write_text("[variants.winter]\nstyle = 1\n")
    before = snapshot(tmp_path)
    folder = tmp_path / ("f" * 300)
    assert_user_error(run("upscale", src, "-o", f"{folder}/"), "-o ", "too long")
    assert_user_error(run("variants", src, "--job", job, "-o", folder), "-o ", "folder name")
    assert snapshot(tmp_path) == before


def test_long_name_through_the_api(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    with pytest.raises(OptionError, match="output .* too long"):
        vidx.render(src, tmp_path / ("g" * 256 + ".mp4"))
