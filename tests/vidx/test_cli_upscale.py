"""End to end through the CLI: frames, timestamps, audio, subtitles, sizes, codecs, sidecar."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import run_cli, stream_duration, video_timestamps


def video_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height


def test_transcode_keeps_frames_timestamps_and_audio(clip, tmp_path: Path) -> None:
    src = clip(frames=24, audio=True)
    out = tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out, "--size", "source")
    assert result.exit_code == 0, result.output
    assert video_timestamps(out) == pytest.approx(video_timestamps(src), abs=1e-3)
    assert stream_duration(out, "audio") == pytest.approx(stream_duration(src, "audio"), abs=0.01)
    sidecar = json.loads(Path(str(out) + ".json").read_text())
    assert sidecar["frames"] == 24 and sidecar["params"]["size"]["size"] == "source"
    assert {"vidx", "av", "torch"} <= set(sidecar["versions"])
    assert not Path(str(out) + ".part").exists()


def test_vfr_stays_vfr(clip, tmp_path: Path) -> None:
    pts = [0, 1, 2, 5, 6, 11, 12, 13, 20]
    src = clip(frames=len(pts), pts=pts, time_base=Fraction(1, 30), fps=30)
    out = tmp_path / "out.mkv"
    assert run_cli("upscale", src, "-o", out, "--size", "x2").exit_code == 0
    assert video_timestamps(out) == pytest.approx([p / 30 for p in pts], abs=1e-3)
    assert video_size(out) == (192, 128)


def test_subtitles_are_copied_into_mkv(clip, tmp_path: Path) -> None:
    src = clip("in.mkv", frames=24, audio=True, subtitles=[(0.1, 0.5, "hello"), (0.6, 0.9, "x")])
    out = tmp_path / "out.mkv"
    assert run_cli("upscale", src, "-o", out).exit_code == 0
    with av.open(str(out)) as c:
        kinds = [s.type for s in c.streams]
        subs = list(c.demux(c.streams.subtitles[0]))
    assert kinds == ["video", "audio", "subtitle"]
    assert len([p for p in subs if p.size]) == 2


def test_trim_cuts_video_and_audio_together(clip, tmp_path: Path) -> None:
    src = clip(frames=72, audio=True)
    out = tmp_path / "out.mp4"
    assert run_cli("upscale", src, "-o", out, "--start", "1", "--duration", "1").exit_code == 0
    stamps = video_timestamps(out)
    assert len(stamps) == 24 and stamps[0] == pytest.approx(0.0, abs=1e-3)
    assert stream_duration(out, "audio") == pytest.approx(1.0, abs=0.05)
    out2 = tmp_path / "out2.mp4"
    assert run_cli("upscale", src, "-o", out2, "--max-frames", "12").exit_code == 0
    assert len(video_timestamps(out2)) == 12
    assert stream_duration(out2, "audio") == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("size", "fit", "expected"),
    [
        ("640x360", "contain", (640, 360)),
        ("640x360", "cover", (640, 360)),
        ("101x51", "stretch", (102, 52)),
        ("x3", "contain", (288, 192)),
    ],
)
def test_sizes_are_exact(clip, tmp_path: Path, size, fit, expected) -> None:
    src = clip(frames=3)
    out = tmp_path / "out.mp4"
    assert run_cli("upscale", src, "-o", out, "--size", size, "--fit", fit).exit_code == 0
    assert video_size(out) == expected


def test_odd_sized_source_is_encoded(clip, tmp_path: Path) -> None:
    src = clip("odd.mkv", frames=3, size=(95, 63), pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out, "--size", "source")
    assert result.exit_code == 0, result.output
    assert video_size(out) == (96, 64)


@pytest.mark.parametrize(("codec", "ext"), [("hevc", "mp4"), ("av1", "mkv"), ("prores", "mov")])
def test_other_codecs(clip, tmp_path: Path, codec: str, ext: str) -> None:
    src = clip(frames=4, audio=True)
    out = tmp_path / f"out.{ext}"
    result = run_cli("upscale", src, "-o", out, "--codec", codec)
    assert result.exit_code == 0, result.output
    assert len(video_timestamps(out)) == 4
    with av.open(str(out)) as c:
        # the stream's codec as the demuxer reports it (the decoder's name can differ: libdav1d)
        assert (
            c.streams.video[0].codec_context.codec.id
            == av.Codec({"hevc": "hevc", "av1": "av1", "prores": "prores"}[codec], "r").id
        )


def test_existing_output_needs_overwrite(clip, tmp_path: Path) -> None:
    src = clip(frames=3)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    result = run_cli("upscale", src, "-o", out)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert run_cli("upscale", src, "-o", out, "--overwrite").exit_code == 0
    assert len(video_timestamps(out)) == 3


def test_output_equal_to_input_is_refused(clip) -> None:
    src = clip(frames=3)
    before = src.read_bytes()
    result = run_cli("upscale", src, "-o", src, "--overwrite")
    assert result.exit_code == 2 and "is the input" in result.stderr
    assert src.read_bytes() == before


def test_probe_json(clip) -> None:
    src = clip(frames=5, audio=True)
    result = run_cli("probe", src, "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["width"] == 96 and info["frames"] == 5
    assert [s["type"] for s in info["streams"]] == ["video", "audio"]


def test_straight_transcode_keeps_pixels(clip, tmp_path: Path) -> None:
    from tests.conftest import pattern

    src = clip(frames=6, size=(128, 96))
    out = tmp_path / "out.mp4"
    assert run_cli("upscale", src, "-o", out, "--crf", "0").exit_code == 0
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 6
    assert abs(frames[4].astype(int) - pattern(4, 128, 96).astype(int)).mean() < 6
