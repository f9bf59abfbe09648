"""Exact frames: no frame is lost for its timestamp. Packed B-frames (Megamind.avi) keep every
frame; duplicate and backward timestamps are moved forward and reported in one warning."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.conftest import pattern, run_cli
from vidx.io.reader import Reader
from vidx.io.remux import scan_frames

# milliseconds (Matroska's time base): frame 3 repeats frame 2's time, frame 6 goes backward
STAMPS = [0, 40, 80, 80, 160, 240, 200, 280, 320, 360, 400, 440]


def stamped_clip(path: Path, stamps: list[int] = STAMPS) -> Path:
    """An intra-only (MJPEG) Matroska clip whose packets carry exactly ``stamps`` (ms)."""
    tb = Fraction(1, 1000)
    with av.open(str(path), "w", format="matroska") as out:
        vs = out.add_stream("mjpeg", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuvj420p"
        vs.time_base = tb
        vs.codec_context.time_base = tb
        packets = []
        for i in range(len(stamps)):
            frame = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            frame.pts = i * 40
            frame.time_base = tb
            packets += vs.encode(frame.reformat(format="yuvj420p"))
        packets += vs.encode(None)
        for i, (packet, ts) in enumerate(zip(packets, stamps, strict=True)):
            packet.pts, packet.dts = ts, min(stamps[i:])  # dts <= pts and never decreasing
            out.mux(packet)
    return path


def test_clip_really_has_bad_timestamps(tmp_path: Path) -> None:
    src = stamped_clip(tmp_path / "dup.mkv")
    with av.open(str(src)) as c:
        got = [p.pts for p in c.demux(video=0) if p.size]
    assert got == STAMPS


def test_reader_moves_bad_timestamps_forward(tmp_path: Path) -> None:
    src = stamped_clip(tmp_path / "dup.mkv")
    with Reader(src) as r:
        pts = [f.pts for f in r.frames()]
        repaired = r.repaired
    assert len(pts) == len(STAMPS)
    assert pts == [0, 40, 80, 81, 160, 240, 241, 280, 320, 360, 400, 440]
    assert repaired == 2


def test_scan_counts_duplicates(tmp_path: Path) -> None:
    src = stamped_clip(tmp_path / "dup.mkv")
    assert len(scan_frames(src).times) == len(STAMPS)


def test_upscale_keeps_every_frame_and_warns_once(tmp_path: Path) -> None:
    src = stamped_clip(tmp_path / "dup.mkv")
    for extra in ([], ["--segment-frames", "5"], ["--segment-frames", "0"]):
        out = tmp_path / f"out{len(extra)}{extra[-1] if extra else ''}.mp4"
        result = run_cli("upscale", src, "-o", out, "--preset", "ultrafast", *extra)
        assert result.exit_code == 0, result.output
        with av.open(str(out)) as c:
            times = [f.pts for f in c.decode(video=0)]
        assert len(times) == len(STAMPS), extra
        assert times == sorted(set(times))
        lines = [ln for ln in result.output.splitlines() if "out-of-order timestamp" in ln]
        assert len(lines) == 1, result.output
        assert lines[0].startswith("vidx: warning: 2 frames had")


def test_megamind_keeps_all_270_frames(real_clip, tmp_path: Path) -> None:  # noqa: ANN001
    src = real_clip("Megamind.avi")
    out = tmp_path / "mm.mkv"
    result = run_cli("upscale", src, "-o", out, "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    with av.open(str(src)) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    with av.open(str(out)) as c:
        written = [f.pts for f in c.decode(video=0)]
    assert decoded == 270
    assert len(written) == 270
    assert written == sorted(set(written))
    assert np.all(np.diff(written) > 0)
