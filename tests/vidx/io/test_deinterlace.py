"""Interlaced sources are deinterlaced with bwdif: same frame count, same timestamps, a notice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vidx.errors import OptionError
from vidx.frame import Frame
from vidx.io.deinterlace import Deinterlacer, field_order, notice
from vidx.io.probe import probe
from vidx.io.reader import Reader, Trim

W, H, N = 96, 64, 10


def woven(index: int) -> np.ndarray:
    """A frame woven from two fields 1/50 s apart: a bright bar moving 6 px per field."""
    img = np.full((H, W, 3), 40, np.uint8)
    for parity, x in ((0, 12 * index), (1, 12 * index + 6)):  # top field first
        img[parity::2, x % W : x % W + 16] = 230
    return img


def make_clip(
    path: Path, interlaced: bool, codec: str = "libx264", declare: int | None = None
) -> Path:
    """``declare`` writes an AVFieldOrder into the stream header (2 = TT) whatever the frames."""
    options = {}
    if interlaced:
        options = {"flags": "+ildct+ilme"}
        if codec == "libx264":
            options["x264-params"] = "interlaced=1:tff=1"
        else:
            options["top"] = "1"
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        if declare is not None:
            stream.codec_context.field_order = declare
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(woven(i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def combing(rgb: np.ndarray) -> float:
    """How much neighbouring rows disagree beyond what rows two apart do (comb teeth)."""
    y = rgb.astype(np.float32).mean(axis=2)
    return float(np.abs(y[1:-1] - (y[:-2] + y[2:]) / 2).mean())


def read(path: Path, **kwargs: object) -> tuple[list[Frame], list[str]]:
    with Reader(path, **kwargs) as reader:  # type: ignore[arg-type]
        frames = list(reader.frames())
        return frames, reader.warnings


@pytest.mark.parametrize(("codec", "order"), [("libx264", "top"), ("mpeg2video", None)])
def test_interlaced_clip_is_deinterlaced(tmp_path: Path, codec: str, order: str | None) -> None:
    path = make_clip(tmp_path / f"i_{codec}.mkv", interlaced=True, codec=codec)
    info = probe(path)
    assert info.interlaced and info.to_dict()["interlaced"] is True
    if order:
        assert info.field_order == f"{order} field first"
    raw, raw_notes = read(path, deinterlace="off")
    frames, notes = read(path)
    assert len(frames) == len(raw) == N
    assert [f.pts for f in frames] == [f.pts for f in raw]
    assert [f.index for f in frames] == list(range(N))
    assert notes == [notice(info.field_order)] and raw_notes == []
    assert notes[0].startswith("the source is interlaced") and "bwdif" in notes[0]
    before = np.mean([combing(f.rgb) for f in raw[1:-1]])
    after = np.mean([combing(f.rgb) for f in frames[1:-1]])
    assert after < before / 2, (before, after)


def test_top_field_first_notice(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "i.mp4", interlaced=True)
    _, notes = read(path)
    assert notes == ["the source is interlaced (top field first); deinterlaced with bwdif"]


def test_progressive_clip_gets_no_filter(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "p.mp4", interlaced=False)
    info = probe(path)
    assert not info.interlaced and info.field_order in ("progressive", None)
    with Reader(path) as reader:
        frames = list(reader.frames())
        assert reader._deinterlacer is None and reader.warnings == []
    assert len(frames) == N


def test_declared_field_order_without_flagged_frames(tmp_path: Path) -> None:
    """The container says interlaced, the frames carry no flag: every frame is deinterlaced."""
    path = make_clip(tmp_path / "d.mkv", interlaced=False, declare=2)
    assert probe(path).field_order == "top field first" and probe(path).interlaced
    raw, _ = read(path, deinterlace="off")
    assert not any(f.decoded for f in raw)
    frames, notes = read(path)
    assert len(frames) == N and notes == [notice("top field first")]
    assert np.mean([combing(f.rgb) for f in frames[1:-1]]) < 0.2 * np.mean(
        [combing(f.rgb) for f in raw[1:-1]]
    )


def test_straight_transcode_frames_are_deinterlaced_too(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "i.mp4", interlaced=True)
    frames, notes = read(path, decoded=True)
    assert len(frames) == N and len(notes) == 1
    assert all(not f.decoded.interlaced_frame for f in frames)
    raw, _ = read(path, decoded=True, deinterlace="off")
    assert all(f.decoded.interlaced_frame for f in raw)
    assert [f.pts for f in frames] == [f.pts for f in raw]


def test_trimmed_interlaced_read(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "i.mp4", interlaced=True)
    frames, _ = read(path, trim=Trim(max_frames=4))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    frames, _ = read(path, trim=Trim(start=0.2))
    assert len(frames) == N - 5 and frames[0].time == pytest.approx(0.0, abs=1e-3)


def test_deinterlacer_keeps_count_and_time_base(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "i.mp4", interlaced=True)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert field_order(stream) == "top field first"
        tb = stream.time_base
        assert tb is not None
        deint = Deinterlacer(tb)
        decoded = list(container.decode(stream))
        out = [f for frame in decoded for f in deint.push(frame)] + deint.flush()
    assert [f.pts for f in out] == [f.pts for f in decoded]
    assert all(f.time_base == tb for f in out)


def test_bad_mode_is_an_option_error(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="deinterlace must be one of auto, off"):
        Reader(tmp_path / "never-opened.mp4", deinterlace="yadif")
