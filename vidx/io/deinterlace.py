"""Deinterlacing decoded frames with FFmpeg's ``bwdif`` filter (PyAV ``av.filter.Graph``).

An interlaced source (DVD, broadcast, camcorder footage) stores two half-height fields per
frame, taken 1/50 or 1/60 s apart; treated as a picture it shows comb teeth on every moving edge,
which upscalers sharpen and restylers paint over. :class:`Deinterlacer` rebuilds each frame
from its fields with ``bwdif`` in ``send_frame`` mode: one output frame per input frame, same
timestamps, so the frame count and timing of the video do not change.

Convention: field order names follow FFmpeg's ``AVFieldOrder`` in display order: TT and BT show
the top field first, BB and TB the bottom field first.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from vidx.errors import OptionError

MODES = ("auto", "off")
FILTER = "bwdif"
# AVFieldOrder (as PyAV reports it: an int, or a name in some versions) -> the field shown first
_ORDERS = {
    1: "progressive",
    2: "top field first",  # TT
    3: "bottom field first",  # BB
    4: "bottom field first",  # TB: top coded first, bottom displayed first
    5: "top field first",  # BT
    "progressive": "progressive",
    "tt": "top field first",
    "bb": "bottom field first",
    "tb": "bottom field first",
    "bt": "top field first",
}


def check_mode(mode: str) -> str:
    """``mode`` if it is one of ``MODES``, else OptionError naming the option."""
    if mode not in MODES:
        raise OptionError(f"deinterlace must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def field_order(stream: Any) -> str | None:
    """``"progressive"``, ``"top field first"``, ``"bottom field first"``, or None (unknown).

    From the stream's codec parameters (the container's or the bitstream's declaration).
    """
    value = getattr(stream.codec_context, "field_order", None)
    if isinstance(value, str):
        value = value.lower()
    return _ORDERS.get(value)


def is_interlaced(order: str | None) -> bool:
    return order in ("top field first", "bottom field first")


def notice(order: str | None) -> str:
    """The one-line note the reader records once when it deinterlaces."""
    detail = f" ({order})" if is_interlaced(order) else ""
    return f"the source is interlaced{detail}; deinterlaced with {FILTER}"


class Deinterlacer:
    """``bwdif`` over a stream of decoded frames; pts come out in ``time_base`` as they went in.

    ``all_frames`` False deinterlaces only frames the decoder flags as interlaced
    (``frame.interlaced_frame``), passing progressive ones through the filter untouched; True
    treats every frame as interlaced in ``order`` (for a stream whose container declares a
    field order but whose frames carry no flag). The filter holds one frame back (it looks one
    frame ahead): call :meth:`flush` at the end of the stream.
    """

    def __init__(self, time_base: Fraction, order: str | None = None, all_frames: bool = False):
        self.time_base = time_base
        parity = {"top field first": "tff", "bottom field first": "bff"}.get(order or "", "auto")
        deint = "all" if all_frames else "interlaced"
        self.options = f"mode=send_frame:parity={parity}:deint={deint}"
        self._graph: av.filter.Graph | None = None
        self._key: tuple[int, int, str] | None = None

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Feed one decoded frame; returns the frames ready (usually one, none for the first)."""
        key = (frame.width, frame.height, frame.format.name)
        out: list[av.VideoFrame] = []
        if self._graph is not None and key != self._key:  # size or format changed mid-stream
            out = self.flush()
        if self._graph is None:
            self._graph, self._key = self._build(frame), key
        self._graph.push(frame)
        return out + self._pull(self._graph)

    def flush(self) -> list[av.VideoFrame]:
        """The frames still held by the filter (end of stream); the next push starts afresh."""
        if self._graph is None:
            return []
        self._graph.push(None)
        out = self._pull(self._graph)
        self._graph, self._key = None, None
        return out

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        tb = self.time_base
        src = graph.add(
            "buffer",
            f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:"
            f"time_base={tb.numerator}/{tb.denominator}:pixel_aspect=1/1",
        )
        bwdif = graph.add(FILTER, self.options)
        sink = graph.add("buffersink")
        src.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        return graph

    def _pull(self, graph: av.filter.Graph) -> list[av.VideoFrame]:
        out: list[av.VideoFrame] = []
        while True:
            try:
                frame = graph.pull()
            except (BlockingIOError, av.error.EOFError):
                return out
            if not isinstance(frame, av.VideoFrame):
                continue
            # send_frame mode doubles the time base (it could emit fields): bring pts back
            if frame.pts is not None and frame.time_base and frame.time_base != self.time_base:
                frame.pts = round(frame.pts * frame.time_base / self.time_base)
            frame.time_base = self.time_base
            out.append(frame)
