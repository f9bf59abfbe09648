"""Workflow commands end to end: variants job files, before/after compare, stills, preview."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import run_cli, stream_duration, video_timestamps
from vidx.errors import OptionError
from vidx.jobs.jobfile import load_job

ROOT = Path(__file__).resolve().parents[2]


def size_of(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return ctx.width, ctx.height


def write_job(tmp_path: Path, text: str) -> Path:
    job = tmp_path / "job.toml"
    job.write_text(text)
    return job


def test_sample_job_file_is_valid() -> None:
    job = load_job(ROOT / "samples" / "seasons.toml")
    assert sorted(job.variants) == ["autumn", "spring", "summer", "winter"]


def test_variants_share_one_pass(clip, tmp_path: Path) -> None:
    src = clip(frames=8, audio=True)
    job = write_job(
        tmp_path,
        """
[shared]
keyframe_interval = 4
strength = 0.8

[variants.winter]
style = 5

[variants.summer]
style = "3:0.5,12:0.5"
size = "x2"
compare = "side"
""",
    )
    outdir = tmp_path / "out"
    result = run_cli("variants", src, "--job", job, "-o", outdir)
    assert result.exit_code == 0, result.output
    winter, summer = outdir / "winter.mp4", outdir / "summer.mp4"
    assert video_timestamps(winter) == pytest.approx(video_timestamps(src), abs=1e-3)
    assert size_of(winter) == (96, 64) and size_of(summer) == (192, 128)
    assert size_of(outdir / "summer.compare.mp4") == (384, 128)
    assert stream_duration(summer, "audio") == pytest.approx(
        stream_duration(src, "audio"), abs=0.01
    )
    meta = json.loads((outdir / "summer.mp4.json").read_text())
    assert meta["restyle"]["name"] == "style"
    with av.open(str(winter)) as a, av.open(str(summer)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="rgb24")
        fb = next(b.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(cv2.resize(fb, (96, 64)).astype(int) - fa.astype(int)).mean() > 5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "[shared]\ncolour = 1\n[variants.a]\nstyle = 1\n",
            "job.toml:2: 'colour' is not a key of [shared]",
        ),
        (
            "[variants.a]\nstyle = 1\nstrength = 'high'\n",
            "job.toml:3: strength must be a number or none",
        ),
        ("[variants.a]\nstyle = 1\n[variants.a]\nstyle = 2\n", "line 3"),
        (
            "[variants.a]\nstyle_image = '../x.png'\n",
            "job.toml:2: style_image '../x.png' must be a path inside the job file's folder",
        ),
        ("[variants.a]\nkeyframe_interval = 3\n", "can only be set in [shared]"),
        ("[variants.'a b']\nstyle = 1\n", "variant name 'a b'"),
        ("[shared]\nstyle = 1\n", "no [variants.NAME] tables"),
        ("[variants.a]\nsteps = true\n", "steps must be an integer, got True"),
    ],
)
def test_bad_job_files_fail_before_work(clip, tmp_path: Path, text: str, needle: str) -> None:
    src = clip(frames=3)
    job = write_job(tmp_path, text)
    outdir = tmp_path / "out"
    result = run_cli("variants", src, "--job", job, "-o", outdir)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr.replace("\n", "")
    assert not any(outdir.glob("*.mp4"))
    with pytest.raises(OptionError):
        load_job(job)


@pytest.mark.parametrize(
    ("mode", "size"), [("side", (192, 64)), ("stack", (96, 128)), ("split", (96, 64))]
)
def test_compare_video_has_same_timing_and_audio(clip, tmp_path: Path, mode, size) -> None:
    src = clip(frames=6, audio=True)
    out = tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out, "--compare", mode)
    assert result.exit_code == 0, result.output
    cmp = tmp_path / "out.compare.mp4"
    assert size_of(cmp) == size
    assert video_timestamps(cmp) == pytest.approx(video_timestamps(src), abs=1e-3)
    assert stream_duration(cmp, "audio") == pytest.approx(stream_duration(src, "audio"), abs=0.01)


def test_bad_compare_mode(clip, tmp_path: Path) -> None:
    result = run_cli("upscale", clip(frames=2), "-o", tmp_path / "o.mp4", "--compare", "wipe")
    assert result.exit_code == 2 and "--compare" in result.stderr


def test_still_in_still_out_and_still_to_video(tmp_path: Path) -> None:
    img = (np.random.default_rng(1).random((36, 64, 3)) * 255).astype(np.uint8)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), img)
    out = tmp_path / "out.png"
    assert run_cli("upscale", src, "-o", out, "--size", "1080p").exit_code == 0
    assert cv2.imread(str(out)).shape == (1080, 1920, 3)
    assert (tmp_path / "out.png.json").exists()
    video = tmp_path / "one.mp4"
    assert run_cli("restyle", src, "-o", video, "--style", "2", "--size", "x2").exit_code == 0
    assert len(video_timestamps(video)) == 1 and size_of(video) == (128, 72)


def test_video_to_picture_is_refused(clip, tmp_path: Path) -> None:
    result = run_cli("upscale", clip(frames=2), "-o", tmp_path / "x.png")
    assert result.exit_code == 2 and "vidx preview" in result.stderr


def test_preview_sheet(clip, tmp_path: Path) -> None:
    src = clip(frames=24, size=(128, 72))
    sheet = tmp_path / "sheet.png"
    result = run_cli(
        "preview", src, "-o", sheet, "--style", "3", "--strength", "0.3,0.9", "--cell-width", "128"
    )
    assert result.exit_code == 0, result.output
    img = cv2.imread(str(sheet))
    assert img.shape[1] > 3 * 128 and img.shape[0] > 3 * 72
    bad = run_cli("preview", src, "-o", tmp_path / "b.png", "--strength", "0.3,x")
    assert bad.exit_code == 2 and "--strength" in bad.stderr
