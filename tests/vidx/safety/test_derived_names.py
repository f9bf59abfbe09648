"""Issue 9, case 1: an input (or a user's file) with one of vidx's derived names is never
written over: ``OUT.part``, ``OUT.json``, ``OUT.compare.EXT``, a foreign ``OUT.parts`` folder,
a plain file named ``OUT.parts``, and a variant output that is the input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize("name", ["out.mp4.part", "out.mp4.json", "out.compare.mp4"])
def test_input_with_a_derived_name_is_refused(clip, tmp_path: Path, name: str, overwrite) -> None:
    src = clip("clip.mp4", frames=24).rename(tmp_path / name)  # cp clip.mp4 NAME
    before = snapshot(tmp_path)
    extra = ["--compare", "side"] if "compare" in name else []
    result = vidx(
        "upscale", src, "-o", tmp_path / "out.mp4", "--segment-frames", "0", *extra, *overwrite
    )
    line = assert_user_error(result, str(src))
    assert "reads" in line or "input" in line, line
    assert snapshot(tmp_path) == before  # the input is whole, nothing was written


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_input_reached_by_another_name_is_refused(clip, tmp_path: Path, kind: str) -> None:
    """The same file under the derived name: a hard link (same inode) or a symlink."""
    src = clip("in.mp4", frames=12)
    alias = tmp_path / "out.mp4.part"
    (os.link if kind == "hardlink" else os.symlink)(src, alias)
    before = snapshot(tmp_path)
    result = vidx(
        "upscale", src, "-o", tmp_path / "out.mp4", "--segment-frames", "0", "--overwrite"
    )
    assert_user_error(result, "out.mp4.part")
    assert snapshot(tmp_path) == before


def test_output_is_the_input(clip, tmp_path: Path) -> None:
    src = clip("in.mp4")
    before = snapshot(tmp_path)
    assert_user_error(vidx("upscale", src, "-o", src, "--overwrite"), "is the input")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("segment_frames", ["0", "8"])
def test_foreign_parts_folder_is_kept_not_adopted(
    clip, tmp_path: Path, segment_frames: str
) -> None:
    src = clip("in.mp4", frames=24)
    parts = tmp_path / "out.mp4.parts"
    parts.mkdir()
    (parts / "notes.txt").write_text("my own notes\n")
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"], ["--restart"], ["--overwrite", "--restart"]):
        result = vidx(
            "upscale", src, "-o", tmp_path / "out.mp4", "--segment-frames", segment_frames, *extra
        )
        assert_user_error(result, str(parts))
        assert snapshot(tmp_path) == before, extra  # the folder and the user's file are kept


def test_plain_file_named_parts(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    (tmp_path / "out.mp4.parts").write_bytes(b"not a folder\n")
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"], ["--restart"]):
        result = vidx("upscale", src, "-o", tmp_path / "out.mp4", *extra)
        assert_user_error(result, "out.mp4.parts")
        assert snapshot(tmp_path) == before


def test_existing_sidecar_counts_as_an_existing_output(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    (tmp_path / "out.mp4.json").write_text('{"mine": true}\n')
    before = snapshot(tmp_path)
    assert_user_error(
        vidx("upscale", src, "-o", tmp_path / "out.mp4"), "out.mp4.json", "--overwrite"
    )
    assert snapshot(tmp_path) == before


def test_variant_output_that_is_the_input(clip, tmp_path: Path) -> None:
    """``variants -o FOLDER`` writes FOLDER/NAME.mp4: a variant named like the input."""
    outdir = tmp_path / "outs"
    outdir.mkdir()
    src = clip("outs/winter.mp4", frames=12)
    job = tmp_path / "job.toml"
    job.write_text('[shared]\nupscaler = "lanczos"\n\n[variants.winter]\nstyle = 3\n')
    before = snapshot(tmp_path)
    result = vidx("variants", src, "--job", job, "-o", outdir, "--overwrite")
    assert_user_error(result, "winter.mp4")
    assert snapshot(tmp_path) == before


def test_job_file_is_not_a_variant_output(clip, tmp_path: Path) -> None:
    """The job file itself under a variant's sidecar name is refused too."""
    src = clip("in.mp4", frames=12)
    outdir = tmp_path / "outs"
    outdir.mkdir()
    job = outdir / "a.mp4.json"
    job.write_text('[shared]\nupscaler = "lanczos"\n\n[variants.a]\nstyle = 3\n')
    shutil.copy(job, tmp_path / "copy.toml")
    before = snapshot(tmp_path)
    result = vidx("variants", src, "--job", job, "-o", outdir, "--overwrite")
    assert_user_error(result, "a.mp4.json")
    assert snapshot(tmp_path) == before
