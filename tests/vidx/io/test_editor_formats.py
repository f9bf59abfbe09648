"""Editor formats: each ProRes and DNxHR profile is written and reported (codec tag and profile
name, as ffprobe shows them: PyAV reads the same libavformat fields), alpha is kept by ProRes
4444, and 10-bit H.265 and AV1 work. ``--preset`` stays the encoder speed preset."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import make_clip, pattern, run_cli
from vidx.io.writer import PROFILES, EncodeSettings

PRORES = [(name, tag) for name, (_, tag, _) in PROFILES["prores"].items()]
DNXHR = [(name, label) for name, (_, label, _) in PROFILES["dnxhr"].items()]


def described(path: Path) -> tuple[str, str | None, str, int]:
    """Codec tag, profile name, pixel format and decoded frame count of the video stream."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video=0))
        return v.codec_context.codec_tag, v.profile, v.codec_context.pix_fmt, frames


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", frames=6)


@pytest.mark.parametrize(("profile", "tag"), PRORES)
def test_prores_profile_tag(src: Path, tmp_path: Path, profile: str, tag: str) -> None:
    out = tmp_path / f"{profile}.mov"
    result = run_cli("upscale", src, "-o", out, "--codec", "prores", "--profile", profile)
    assert result.exit_code == 0, result.output
    got_tag, name, pix_fmt, frames = described(out)
    assert got_tag == tag
    assert frames == 6
    assert ("444" in pix_fmt) == profile.startswith("4444")
    assert "chroma" not in result.output  # 4:2:0 -> 4:2:2 loses nothing: no notice


def test_prores_profile_in_one_piece_and_mkv(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "lt.mov"
    result = run_cli(
        "upscale", src, "-o", out, "--codec", "prores", "--profile", "lt", "--segment-frames", "0"
    )
    assert result.exit_code == 0, result.output
    assert described(out)[:2] == ("apcs", "LT")
    mkv = tmp_path / "proxy.mkv"
    result = run_cli("upscale", src, "-o", mkv, "--codec", "prores", "--profile", "proxy")
    assert result.exit_code == 0, result.output
    assert described(mkv)[1] == "Proxy"


def test_prores_old_preset_still_picks_the_profile(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.mov"
    result = run_cli("upscale", src, "-o", out, "--codec", "prores", "--preset", "0")
    assert result.exit_code == 0, result.output
    assert described(out)[:2] == ("apco", "Proxy")
    assert EncodeSettings("prores", preset="4").profile_name == "4444"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--codec", "prores", "--preset", "fast"], ["--preset", "--profile proxy"]),
        (["--codec", "prores", "--preset", "1", "--profile", "hq"], ["--preset", "--profile"]),
        (["--codec", "prores", "--profile", "xq"], ["--profile", "4444xq"]),
        (["--codec", "h264", "--profile", "hq"], ["--profile", "prores and dnxhr"]),
        (["--codec", "dnxhr", "--crf", "10"], ["--crf", "dnxhr"]),
        (["--codec", "dnxhr", "--preset", "fast"], ["--preset", "--profile lb"]),
        (["--codec", "prores", "--profile", "hq", "--pix-fmt", "yuv444p10le"], ["--pix-fmt"]),
        (["--codec", "dnxhr"], ["256x120", "--size"]),
    ],
)
def test_mistakes_are_one_line(src: Path, tmp_path: Path, args: list[str], words) -> None:  # noqa: ANN001
    out = tmp_path / "bad.mov"
    result = run_cli("upscale", src, "-o", out, *args)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("vidx: error:") and "\n" not in line
    for w in words:
        assert w in line
    assert not out.exists()


def test_dnxhr_refuses_mkv(src: Path, tmp_path: Path) -> None:
    result = run_cli("upscale", src, "-o", tmp_path / "x.mkv", "--codec", "dnxhr")
    assert result.exit_code == 2
    assert "use .mov or .mxf" in result.output


@pytest.mark.parametrize(("profile", "label"), DNXHR)
def test_dnxhr_profiles(src: Path, tmp_path: Path, profile: str, label: str) -> None:
    for ext in ("mov", "mxf"):
        out = tmp_path / f"{profile}.{ext}"
        args = ["--codec", "dnxhr", "--profile", profile, "--size", "256x128"]
        result = run_cli("upscale", src, "-o", out, *args)
        assert result.exit_code == 0, result.output
        _, name, pix_fmt, frames = described(out)
        assert name == label
        assert frames == 6
        assert pix_fmt == PROFILES["dnxhr"][profile][2][0]


def alpha_clip(path: Path, frames: int = 4) -> Path:
    """ProRes 4444 with a real alpha channel: a horizontal ramp, shifting per frame."""
    h, w = 48, 64
    with av.open(str(path), "w") as out:
        vs = out.add_stream("prores_ks", rate=24, options={"profile": "4"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuva444p10le"
        for i in range(frames):
            rgba = np.dstack([pattern(i, w, h), np.tile(np.linspace(0, 255, w), (h, 1))])
            rgba = np.roll(rgba.astype(np.uint8), i, axis=1)
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva444p10le")
            frame.pts = i
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return path


def alpha_planes(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgba")[..., 3] for f in c.decode(video=0)]


def test_prores_4444_keeps_alpha(tmp_path: Path) -> None:
    src = alpha_clip(tmp_path / "alpha.mov")
    out = tmp_path / "out.mov"
    result = run_cli("upscale", src, "-o", out, "--codec", "prores", "--profile", "4444")
    assert result.exit_code == 0, result.output
    assert "alpha channel" not in result.output, result.output
    tag, _, pix_fmt, frames = described(out)
    assert (tag, frames) == ("ap4h", 4)
    assert pix_fmt.startswith("yuva444p")
    for a, b in zip(alpha_planes(src), alpha_planes(out), strict=True):
        assert a.std() > 50  # a real ramp, not opaque
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_alpha_lost_is_said(tmp_path: Path) -> None:
    src = alpha_clip(tmp_path / "alpha.mov", frames=2)
    out = tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out)
    assert result.exit_code == 0, result.output
    assert "alpha channel is dropped" in result.output
    scaled = tmp_path / "x2.mov"
    result = run_cli(
        "upscale", src, "-o", scaled, "--codec", "prores", "--profile", "4444", "--size", "x2"
    )
    assert result.exit_code == 0, result.output
    assert "alpha channel is kept only by a straight transcode" in result.output


@pytest.mark.parametrize(
    ("codec", "ext", "preset"), [("hevc", "mp4", "ultrafast"), ("av1", "mkv", "12")]
)
def test_ten_bit_hevc_and_av1(src: Path, tmp_path: Path, codec: str, ext: str, preset: str) -> None:
    out = tmp_path / f"ten.{ext}"
    args = ["--codec", codec, "--pix-fmt", "yuv420p10le", "--preset", preset]
    result = run_cli("upscale", src, "-o", out, *args)
    assert result.exit_code == 0, result.output
    _, profile, pix_fmt, frames = described(out)
    assert pix_fmt == "yuv420p10le"
    assert frames == 6
    if codec == "hevc":
        assert profile == "Main 10"
