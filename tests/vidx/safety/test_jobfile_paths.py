"""Issue 9, case 5: job files cannot reach outside their folder. An absolute ``upscaler``,
``model = "sub/../../../../etc"``, a symlink pointing out and ``allow_pickle = true`` are
refused in one line; relative paths resolve against the job's folder, not the working one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx


def job(folder: Path, shared: str, variant: str = "style = 3") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.toml"
    path.write_text(f'[shared]\nupscaler = "lanczos"\n{shared}\n\n[variants.a]\n{variant}\n')
    return path


def picture(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def refused(src: Path, job_path: Path, tmp_path: Path, *needles: str) -> str:
    before = snapshot(tmp_path)
    result = vidx("variants", src, "--job", job_path, "-o", tmp_path / "outs")
    line = assert_user_error(result, *needles)
    assert snapshot(tmp_path) == before  # no output folder, nothing written
    return line


@pytest.mark.parametrize(
    ("table", "value", "needle"),
    [
        ("variant", 'upscaler = "{abs}"', "upscaler"),
        ("shared", 'model = "sub/../../../../etc"', "model"),
        ("variant", 'style_image = "../outside.png"', "style_image"),
        ("variant", 'style_image = "{abs}"', "style_image"),
        ("variant", 'style_image = "~/x.png"', "style_image"),
        ("shared", 'raft_weights = "/etc/passwd"', "raft_weights"),
    ],
)
def test_path_leaving_the_job_folder_is_refused(
    clip,
    tmp_path: Path,
    table: str,
    value: str,
    needle: str,
) -> None:
    src = clip("in.mp4", frames=6)
    outside = picture(tmp_path / "outside.png")
    (tmp_path / "model.pth").write_bytes(b"not really a model")
    value = value.format(abs=outside if "style" in value else tmp_path / "model.pth")
    folder = tmp_path / "jobs"
    if table == "shared":
        path = job(folder, value)
    else:
        path = job(folder, "", f"style = 3\n{value}")
    line = refused(src, path, tmp_path, needle, "job.toml:")
    assert "job file's folder" in line or "outside" in line, line


def test_symlink_pointing_out_is_refused(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    folder = tmp_path / "jobs"
    folder.mkdir()
    os.symlink(picture(tmp_path / "secret.png"), folder / "style.png")
    path = job(folder, "", 'style = 3\nstyle_image = "style.png"')
    refused(src, path, tmp_path, "style_image", "outside")


def test_allow_pickle_in_a_job_is_refused(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    for where in ("shared", "variant"):
        folder = tmp_path / f"jobs_{where}"
        if where == "shared":
            path = job(folder, "allow_pickle = true")
        else:
            path = job(folder, "", "style = 3\nallow_pickle = true")
        refused(src, path, tmp_path, "allow_pickle", "command line")


def test_relative_paths_resolve_against_the_job_folder(
    clip,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = clip("in.mp4", frames=6)
    folder = tmp_path / "jobs"
    (folder / "pics").mkdir(parents=True)
    picture(folder / "pics" / "style.png")
    path = job(folder, "", 'style = 3\nstyle_image = "pics/style.png"')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no pics/style.png here
    result = vidx("variants", src, "--job", path, "-o", tmp_path / "outs")
    assert result.exit_code == 0, result.stderr
    sidecar = json.loads((tmp_path / "outs" / "a.mp4.json").read_text())
    assert str(folder / "pics" / "style.png") in json.dumps(sidecar)
    # and a missing one names the job folder's path, not the working folder's
    path = job(tmp_path / "jobs2", "", 'style = 3\nstyle_image = "pics/none.png"')
    line = refused(src, path, tmp_path, "none.png")
    assert str(tmp_path / "jobs2" / "pics" / "none.png") in line, line
