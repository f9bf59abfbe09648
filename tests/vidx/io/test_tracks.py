"""Extra tracks: a timecode track is carried (moved by --start), data tracks and attachments are
copied where the container holds them and dropped with one warning where it does not, and
``probe`` lists them. Clips are made with PyAV: ``timecode`` in a .mov's tags makes the muxer
write a ``tmcd`` track, as ``ffmpeg -timecode`` does."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import pattern, run_cli
from vidx.io.probe import probe
from vidx.io.tracks import frames_before, from_frames, shift_timecode, to_frames

TC = "01:00:10:00"


def tagged_clip(
    path: Path,
    *,
    timecode: str | None = TC,
    fps: int | Fraction = 24,
    frames: int = 12,
    fmt: str | None = None,
    data_codec: str | None = None,
    attachment: bool = False,
    reel: str | None = None,
) -> Path:
    """A tiny H.264 clip with a start timecode (and its reel name), a data track and/or an
    attachment."""
    with av.open(str(path), "w", format=fmt) as out:
        if timecode:
            out.metadata["timecode"] = timecode
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        if reel:
            vs.metadata["reel_name"] = reel
        ds = out.add_data_stream(data_codec) if data_codec else None
        if attachment:
            out.add_attachment("font.ttf", "application/x-truetype-font", b"\0\1\0\0" * 16)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
            if ds is not None:
                data = av.Packet(b"\x06\x0e\x2b\x34" + bytes([i]) * 12)
                data.stream = ds
                data.time_base = Fraction(1, int(fps))
                data.pts = data.dts = i
                out.mux(data)
        for packet in vs.encode(None):
            out.mux(packet)
    return path


def timecode_of(path: Path) -> str | None:
    """The timecode as FFmpeg reports it: a tmcd track's (mov/mp4) or the file's tag (mkv)."""
    with av.open(str(path)) as c:
        for s in c.streams:
            if s.type == "data" and "timecode" in s.metadata:
                return s.metadata["timecode"]
        return c.metadata.get("TIMECODE") or c.metadata.get("timecode")


def test_timecode_arithmetic() -> None:
    assert shift_timecode(TC, 12, 24) == "01:00:10:12"
    assert shift_timecode("23:59:59:24", 1, 25) == "00:00:00:00"
    ntsc = Fraction(30000, 1001)
    assert shift_timecode("00:00:59;29", 1, ntsc) == "00:01:00;02"  # frames 0 and 1 skipped
    assert shift_timecode("00:09:59;29", 1, ntsc) == "00:10:00;00"  # not every tenth minute
    for n in range(0, 40000, 7):
        assert to_frames(from_frames(n, 30, True), 30) == n
    assert frames_before(0.25, 24) == 6
    assert frames_before(0.26, 24) == 7  # the first kept frame is the one at 7/24 s
    assert frames_before(0.0, 24) == 0


def test_probe_lists_timecode_track(tmp_path: Path) -> None:
    src = tagged_clip(tmp_path / "tc.mov")
    info = probe(src)
    assert info.timecode == TC
    assert [(s.type, s.codec) for s in info.streams][1:] == [("data", "tmcd")]
    result = run_cli("probe", src)
    assert result.exit_code == 0, result.output
    assert f"timecode: {TC}" in result.output
    assert "data #1: tmcd" in result.output


@pytest.mark.parametrize("ext", ["mov", "mp4", "mkv"])
@pytest.mark.parametrize("segments", ["240", "0"])
def test_timecode_carried_and_moved_by_start(tmp_path: Path, ext: str, segments: str) -> None:
    src = tagged_clip(tmp_path / "tc.mov")
    out = tmp_path / f"out.{ext}"
    args = ["--start", "0.25", "--segment-frames", segments, "--preset", "ultrafast"]
    result = run_cli("upscale", src, "-o", out, "--size", "x2", *args)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert timecode_of(out) == "01:00:10:06"  # 0.25 s at 24 fps = 6 frames later
    assert probe(out).timecode == "01:00:10:06"


def test_restyle_keeps_timecode(tmp_path: Path) -> None:
    src = tagged_clip(tmp_path / "tc.mov", frames=4)
    out = tmp_path / "styled.mov"
    result = run_cli("restyle", src, "-o", out, "--style", "3", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert timecode_of(out) == TC


@pytest.mark.parametrize("segments", ["240", "0"])
def test_reel_name_kept_with_the_timecode(tmp_path: Path, segments: str) -> None:
    src = tagged_clip(tmp_path / "tc.mov", frames=6, reel="A001C003")
    out = tmp_path / "out.mov"
    args = ["--start", "2f", "--segment-frames", segments, "--preset", "ultrafast"]
    result = run_cli("upscale", src, "-o", out, *args)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        tmcd = [s for s in c.streams if s.type == "data"]
        assert [s.metadata.get("reel_name") for s in tmcd] == ["A001C003"]
    assert timecode_of(out) == "01:00:10:02"


def test_mkv_timecode_tag_to_mov_track(tmp_path: Path) -> None:
    src = tagged_clip(tmp_path / "tc.mkv", timecode="10:00:00:00", fps=25)
    assert probe(src).timecode == "10:00:00:00"
    out = tmp_path / "out.mov"
    result = run_cli("upscale", src, "-o", out, "--start", "0.2", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert timecode_of(out) == "10:00:00:05"


def test_attachment_copied_to_mkv_dropped_from_mp4(tmp_path: Path) -> None:
    src = tagged_clip(tmp_path / "fonts.mkv", timecode=None, attachment=True)
    info = probe(src)
    assert ("attachment", "application/x-truetype-font") in [
        (s.type, s.codec) for s in info.streams
    ]
    keep = tmp_path / "keep.mkv"
    result = run_cli("upscale", src, "-o", keep, "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    with av.open(str(keep)) as c:
        (att,) = [s for s in c.streams if s.type == "attachment"]
        assert att.name == "font.ttf"
        assert bytes(att.data) == b"\0\1\0\0" * 16
    drop = tmp_path / "drop.mp4"
    result = run_cli("upscale", src, "-o", drop, "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "warning" in ln]
    assert lines == [
        "vidx: warning: dropped an attachment (font.ttf): .mp4 files cannot hold it; use .mkv"
    ]


@pytest.mark.parametrize("segments", ["240", "0"])
def test_data_track_dropped_with_one_warning(tmp_path: Path, segments: str) -> None:
    src = tagged_clip(tmp_path / "klv.ts", timecode=None, fmt="mpegts", data_codec="klv")
    assert [s.codec for s in probe(src).streams] == ["h264", "klv"]
    out = tmp_path / "out.mkv"
    result = run_cli("upscale", src, "-o", out, "--segment-frames", segments)
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "warning" in ln]
    assert lines == ["vidx: warning: dropped a klv data stream: .mkv files cannot hold it"]
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video"]
        assert sum(1 for _ in c.decode(video=0)) == 12


def test_probe_json_has_timecode(tmp_path: Path) -> None:
    src = tagged_clip(tmp_path / "tc.mov")
    result = run_cli("probe", src, "--json")
    assert result.exit_code == 0, result.output
    assert '"timecode": "01:00:10:00"' in result.output
