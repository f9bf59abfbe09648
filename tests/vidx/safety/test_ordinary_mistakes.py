"""Issue 9, case 8: ordinary mistakes are exit 2 with one line, never "unexpected": a read-only
output folder, ``-o`` naming a folder, ``--start nan``, ``--pix-fmt rgb24``/``gray16le``, a
corrupt ``OUT.parts/manifest.json``, ``vidx metrics`` on a one-frame clip, and ``variants``
with a bad job (which must not create its output folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root can write into a read-only folder (os.access says writable)",
)
def test_read_only_output_folder(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = vidx("upscale", src, "-o", folder / "out.mp4")
        assert_user_error(result, "not writable")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("segment_frames", ["0", "8"])
def test_output_is_an_existing_folder(clip, tmp_path: Path, segment_frames: str) -> None:
    src = clip("in.mp4", frames=12)
    (tmp_path / "out.mp4").mkdir()
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        result = vidx(
            "upscale", src, "-o", tmp_path / "out.mp4", "--segment-frames", segment_frames, *extra
        )
        assert_user_error(result, "folder")
        assert snapshot(tmp_path) == before  # no .part, no parts folder


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "nan"],
        ["--start", "inf"],
        ["--start", "-1"],
        ["--duration", "nan"],
        ["--start", "100"],
        ["--max-frames", "0"],
    ],
)
def test_bad_trim(clip, tmp_path: Path, args: list[str]) -> None:
    src = clip("in.mp4", frames=12)
    before = snapshot(tmp_path)
    assert_user_error(vidx("upscale", src, "-o", tmp_path / "out.mp4", *args), args[0])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("pix_fmt", ["rgb24", "gray16le", "nonsense"])
def test_pix_fmt_the_encoder_cannot_take(clip, tmp_path: Path, pix_fmt: str) -> None:
    src = clip("in.mp4", frames=12)
    before = snapshot(tmp_path)
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4", "--pix-fmt", pix_fmt)
    assert_user_error(result, "--pix-fmt", pix_fmt)
    assert snapshot(tmp_path) == before  # no parts folder was created


def test_corrupt_manifest(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    parts = tmp_path / "out.mp4.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"format": 1, "segm')
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"], ["--resume"]):
        result = vidx("upscale", src, "-o", tmp_path / "out.mp4", *extra)
        assert_user_error(result, "out.mp4.parts", "--restart")
        assert snapshot(tmp_path) == before


def test_corrupt_manifest_with_restart_starts_over(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    parts = tmp_path / "out.mp4.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text("[1, 2")
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4", "--restart")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "out.mp4.json"]


def test_metrics_on_a_one_frame_clip(clip, tmp_path: Path) -> None:
    one = clip("one.mp4", frames=1)
    many = clip("many.mp4", frames=6)
    for a, b in ((one, one), (many, one), (one, many)):
        result = vidx("metrics", a, b)
        assert_user_error(result, "at least 2 frames")


def test_metrics_json_on_a_one_frame_clip(clip) -> None:
    one = clip("one.mp4", frames=1)
    result = vidx("metrics", one, one, "--json")
    assert_user_error(result, "at least 2 frames")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[shared]\nupscaler = 'lanczos'\n[variants.a]\nstyle = 'no-such-style'\n", "style"),
        ("[shared]\nbogus = 1\n[variants.a]\nstyle = 3\n", "job.toml"),
        ("[shared]\nupscaler = 'lanczos'\n", "job.toml"),
        ("not toml at all [[[\n", "job.toml"),
        ("[shared]\nstrength = 'x'\n[variants.a]\nstyle = 3\n", "job.toml"),
        ("[shared]\nupscaler = 'nope'\n[variants.a]\nstyle = 3\n", "upscaler"),
    ],
)
def test_variants_with_a_bad_job_create_no_folder(
    clip,
    tmp_path: Path,
    text: str,
    needle: str,
) -> None:
    src = clip("in.mp4", frames=6)
    job = tmp_path / "job.toml"
    job.write_text(text)
    before = snapshot(tmp_path)
    assert_user_error(vidx("variants", src, "--job", job, "-o", tmp_path / "outs"), needle)
    assert snapshot(tmp_path) == before  # outs/ was not created


def test_variants_with_a_bad_input_create_no_folder(tmp_path: Path) -> None:
    (tmp_path / "in.mp4").write_bytes(b"not a video" * 100)
    job = tmp_path / "job.toml"
    job.write_text("[shared]\nupscaler = 'lanczos'\n[variants.a]\nstyle = 3\n")
    before = snapshot(tmp_path)
    result = vidx("variants", tmp_path / "in.mp4", "--job", job, "-o", tmp_path / "outs")
    assert_user_error(result, "in.mp4")
    assert snapshot(tmp_path) == before
