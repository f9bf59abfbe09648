"""Open an input safely and describe its streams (``vidx probe``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av

from vidx.errors import InputError
from vidx.io.colour import Colour
from vidx.io.deinterlace import field_order, is_interlaced
from vidx.io.tracks import codec_name, source_timecode


def open_input(path: str | Path) -> av.container.InputContainer:
    """Open ``path`` for reading, turning every way it can fail into one clear InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    try:
        container = av.open(str(p), "r", metadata_errors="replace")  # tags may be garbage
    except av.error.FFmpegError as exc:
        raise InputError(f"{p}: not a readable video file ({_reason(exc)})") from None
    if not container.streams.video:
        kinds: list[str] = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise InputError(f"{p}: has no video stream (found: {', '.join(kinds)})")
    if container.streams.video[0].codec_context is None:  # a codec FFmpeg does not know
        container.close()
        raise InputError(f"{p}: its video stream cannot be decoded (unknown or damaged codec)")
    return container


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


@dataclass
class StreamInfo:
    index: int
    type: str
    codec: str
    language: str | None = None
    details: dict = field(default_factory=dict)


@dataclass
class VideoInfo:
    path: str
    format: str
    duration: float | None
    width: int
    height: int
    rotation: int
    codec: str
    pix_fmt: str | None
    bit_depth: int
    time_base: str
    average_rate: str | None
    frames: int | None
    frames_exact: bool
    streams: list[StreamInfo]
    interlaced: bool = False
    field_order: str | None = None  # "progressive", "top field first", "bottom field first"
    timecode: str | None = None  # of the first frame, HH:MM:SS:FF (vidx.io.tracks)
    # colour tags in ffprobe's words (None: untagged; see vidx.io.colour)
    color_primaries: str | None = None  # bt709, bt2020, ...
    color_transfer: str | None = None  # bt709, smpte2084 (PQ), arib-std-b67 (HLG), ...
    color_space: str | None = None  # the YUV matrix: bt709, smpte170m, bt2020nc, ...
    color_range: str | None = None  # tv (limited) or pc (full)
    first_number: int | None = None  # an image sequence's first frame number (image_sequence)
    start_time: float = 0.0  # seconds of the video stream's first timestamp (a trim counts from 0)

    def to_dict(self) -> dict:
        return asdict(self)


def first_rotation(container: av.container.InputContainer) -> int:
    """Counter-clockwise display rotation (0/90/180/270) of the first decodable frame."""
    return _first_frame(container)[0]


def _first_frame(container: av.container.InputContainer) -> tuple[int, bool]:
    """Rotation and interlaced flag of the first decodable frame ((0, False) when none)."""
    vs = container.streams.video[0]
    try:
        for frame in container.decode(vs):
            return int(frame.rotation) % 360, bool(frame.interlaced_frame)
    except av.error.FFmpegError:
        return 0, False
    finally:
        try:
            container.seek(0)
        except av.error.FFmpegError:
            pass  # a damaged index: the metadata read next needs no position
    return 0, False


def probe(path: str | Path) -> VideoInfo:
    """Describe the file: the first video stream in detail, every other stream briefly."""
    container = open_input(path)
    try:
        vs = container.streams.video[0]
        ctx = vs.codec_context
        rotation, flagged = _first_frame(container)
        order = field_order(vs)
        interlaced = flagged or is_interlaced(order)  # (order None: not declared)
        w, h = ctx.width, ctx.height
        if rotation in (90, 270):
            w, h = h, w
        fmt = ctx.format
        depth = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
        duration = None
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        frames = vs.frames or None
        exact = frames is not None
        if frames is None and duration and vs.average_rate:
            frames = int(round(duration * float(vs.average_rate)))
        streams = []
        timecode = source_timecode(container)
        for s in container.streams:
            details: dict = {}
            actx: Any = s.codec_context  # None for a codec FFmpeg does not know
            if s.type == "audio" and actx is not None:
                details = {"sample_rate": actx.sample_rate, "channels": actx.channels}
            if s.type == "attachment":
                details = {"file": s.name}
            language = s.metadata.get("language")
            streams.append(StreamInfo(s.index, s.type, codec_name(s), language, details))
        return VideoInfo(
            path=str(path),
            format=container.format.name,
            duration=duration,
            width=w,
            height=h,
            rotation=rotation,
            codec=ctx.name,
            pix_fmt=fmt.name if fmt is not None else None,
            bit_depth=depth,
            time_base=str(vs.time_base),
            average_rate=str(vs.average_rate) if vs.average_rate else None,
            frames=frames,
            frames_exact=exact,
            streams=streams,
            interlaced=interlaced,
            field_order=order,
            timecode=timecode,
            start_time=float(vs.start_time * vs.time_base)
            if vs.start_time and vs.time_base
            else 0.0,
            **cast(dict[str, Any], Colour.of(ctx).names()),
        )
    finally:
        container.close()


def as_fraction(value: str | None) -> Fraction | None:
    return Fraction(value) if value else None
