"""Demux and decode in a thread of its own, handing frames and passthrough packets downstream.

The reader walks the file once: video packets are decoded to RGB frames (rotation applied,
with the source's own matrix and range; sources deeper than 8 bits come out as 16-bit RGB for
``deep`` readers, else 8-bit), audio and subtitle packets are handed on untouched so the
writer can copy them. Items come out in file order through a bounded queue, so the reader never runs
more than ``prefetch`` items ahead of the consumer and memory does not grow with clip length.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidx.errors import InputError, OptionError
from vidx.frame import Frame
from vidx.io.colour import Colour, to_rgb
from vidx.io.deinterlace import Deinterlacer, check_mode, field_order, is_interlaced, notice
from vidx.io.probe import open_input
from vidx.io.tracks import copyable, never_copied, packet_streams

COPY_TYPES = ("audio", "subtitle")
SEEK_MARGIN = 0.5
NO_PIXELS = np.zeros((0, 0, 3), np.uint8)


@dataclass
class Passthrough:
    """A packet of a copied stream, timestamps already shifted for trimming."""

    packet: av.Packet
    stream_index: int


@dataclass(frozen=True)
class Trim:
    """``--start``/``--duration`` in seconds and ``--max-frames``; None means no limit.

    ``rebase`` shifts timestamps so the trimmed clip starts near 0 (what a user's trim wants);
    False keeps the source timestamps (segments of a longer job).
    """

    start: float = 0.0
    duration: float | None = None
    max_frames: int | None = None
    rebase: bool = True

    def __post_init__(self) -> None:
        if not math.isfinite(self.start) or self.start < 0:
            raise OptionError(f"must be >= 0 seconds, got {self.start}", param="start")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise OptionError(f"must be > 0 seconds, got {self.duration}", param="duration")
        if self.max_frames is not None and self.max_frames <= 0:
            raise OptionError(f"must be > 0, got {self.max_frames}", param="max_frames")

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration


def repaired_warning(count: int) -> str:
    """The one warning for ``count`` frames whose timestamps were repaired."""
    return (
        f"{count} frame{'s' if count != 1 else ''} had a duplicate or out-of-order timestamp; "
        "each was moved forward to the next free tick (no frame dropped)"
    )


_DONE = object()


class Reader:
    """Iterate a video as :class:`Frame` and :class:`Passthrough` items in file order.

    ``copy_streams`` says whether non-video streams are passed through (audio, subtitles,
    data tracks; attachments are listed in ``copied`` but carry no packets). A corrupt or
    truncated tail stops decoding at the last readable frame (``self.warnings`` says so); a
    file with no decodable frame at all is an InputError.

    ``deinterlace`` ``"auto"`` (default) runs interlaced frames through FFmpeg's ``bwdif``
    (see :mod:`vidx.io.deinterlace`): frames the decoder flags as interlaced, or every frame
    when the stream declares a field order. One frame comes out per frame in, with its
    timestamp, and ``self.warnings`` gets one notice. This applies to ``decoded`` frames too,
    so a straight transcode of an interlaced source comes out progressive. ``"off"`` hands
    frames on as decoded.
    """

    def __init__(
        self,
        path: str | Path,
        trim: Trim = Trim(),
        *,
        prefetch: int = 8,
        copy_streams: bool = True,
        threads: int = 0,
        decoded: bool = False,
        deinterlace: str = "auto",
        deep: bool = False,
    ) -> None:
        self.deinterlace = check_mode(deinterlace)
        self.path = Path(path)
        self.decoded = decoded  # hand av.VideoFrames on, no RGB (see Frame)
        self.deep = deep  # uint16 RGB for sources deeper than 8 bits (see vidx.io.colour)
        self.trim = trim
        self.container = self._open(self.path)
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        if threads:
            self.video.codec_context.thread_count = threads
        # audio, subtitles, data tracks and attachments (see vidx.io.tracks); the timecode
        # track is carried as the output's timecode, not copied
        self.copied = copyable(self.container) if copy_streams else []
        self.carry = copy_streams  # timecode, copied tracks and their warnings
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90000)
        self.field_order = field_order(self.video)  # "top field first", ... or None
        ctx = self.video.codec_context
        # the stream's colour tags, with what a decoder assumes where they are missing; a
        # frame's own tags win (see vidx.io.colour)
        self.colour = Colour.of(ctx).resolved(ctx.width, ctx.height)
        self._rgb = VideoReformatter()  # one swscale context for the reader thread
        self._deinterlacer: Deinterlacer | None = None
        self._pending: list[tuple[float, Passthrough]] = []
        self._last_pts: int | None = None
        self._step: int | None = None
        self._nudged = False
        self._use_dts = self._timestamp_source() == "dts"
        self.warnings: list[str] = never_copied(self.container) if copy_streams else []
        self.frames_read = 0
        self.repaired = 0  # frames whose duplicate or backward timestamp was moved forward
        self.end_time: float | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self, path: Path) -> av.container.InputContainer:
        return open_input(path)

    def _timestamp_source(self) -> str:
        return timestamp_source(self.path)

    # -- consumer side -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame | Passthrough]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vidx-reader", daemon=True)
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def frames(self) -> Iterator[Frame]:
        """Only the video frames (the passthrough packets are dropped)."""
        for item in self:
            if isinstance(item, Frame):
                yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread is not None and self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.container.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reader thread -------------------------------------------------------------------------

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            self._demux()
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _seek(self) -> None:
        """Seek to a keyframe before ``start`` (frames before it are decoded and dropped).

        The target is ``SEEK_MARGIN`` seconds early: demuxers seek by decode time, and a frame
        shown at ``start`` can be stored a few frames before it (B-frames, packed B-frames).
        """
        if self.trim.start > 0:
            target = max(0.0, self.trim.start - SEEK_MARGIN)
            self.container.seek(int(target * av.time_base), backward=True, any_frame=False)

    def _demux(self) -> None:
        self._seek()
        start, end = self.trim.start, self.trim.end
        rebase = start if self.trim.rebase else 0.0
        vshift = int(round(rebase / self.time_base)) if rebase else 0
        shifts = {
            s.index: int(round(rebase / (s.time_base or self.time_base))) if rebase else 0
            for s in self.copied
        }
        # copied packets wait here until the video has reached their time, so a trim that is
        # only known late (--max-frames) still cuts audio where the video ends
        self._pending = []
        self._last_pts = None
        self._step = None
        audio_open = {s.index for s in self.copied if s.type == "audio"}
        video_done: bool | None = False
        try:
            for packet in self.container.demux([self.video, *packet_streams(self.copied)]):
                if self._stop.is_set():
                    return
                sid = packet.stream.index
                if sid != self.video.index:
                    ts = packet.pts if packet.pts is not None else packet.dts
                    if ts is None:
                        continue
                    t = float(ts * packet.time_base)
                    if video_done and t >= (self.end_time or 0.0) - 1e-6:
                        audio_open.discard(sid)
                        if not audio_open:
                            break
                        continue
                    if (start and t < start - 1e-6) or (end is not None and t >= end - 1e-6):
                        continue  # (without --start, audio priming before 0 is kept)
                    if shifts[sid]:
                        packet.pts = None if packet.pts is None else packet.pts - shifts[sid]
                        packet.dts = None if packet.dts is None else packet.dts - shifts[sid]
                    self._pending.append((t, Passthrough(packet, sid)))
                    if video_done and not self._release(self.end_time):
                        return
                    continue
                if video_done:
                    if not audio_open:
                        break
                    continue
                video_done = self._emit(self._decoded_frames(packet), vshift)
                if video_done is None:
                    return
            if not video_done and self._emit(self._decoded_frames(None), vshift) is None:
                return
        except av.error.FFmpegError as exc:
            self._damaged(exc)
        if self.frames_read == 0:
            raise InputError(
                f"{self.path}: no decodable video frame"
                + (f" after --start {start}" if start else "")
            )
        cut = self.trim.duration is not None or self.trim.max_frames is not None
        self._release(self.end_time if cut else None, final=True)

    def _emit(self, frames: list[av.VideoFrame], vshift: int) -> bool | None:
        """Hand decoded frames on; True once the trim end is reached, None when stopped."""
        start, end = self.trim.start, self.trim.end
        for frame in frames:
            pts = self._monotonic(self._best_effort(frame))
            t = float(pts * self.time_base)
            if t < start - 1e-6:
                continue
            if end is not None and t >= end - 1e-6:
                self.end_time = end
                return True if self._release(end) else None
            if not self._release(t):
                return None
            self.repaired += self._nudged
            if self.decoded:
                item = Frame(NO_PIXELS, pts - vshift, self.time_base, self.frames_read, frame)
            else:
                rgb = frame_to_rgb(frame, self.colour, deep=self.deep, reformatter=self._rgb)
                item = Frame(rgb, pts - vshift, self.time_base, self.frames_read)
            if not self._put(item):
                return None
            self.frames_read += 1
            if self.trim.max_frames is not None and self.frames_read >= self.trim.max_frames:
                stop = t + float((self._step or 1) * self.time_base)
                self.end_time = stop if end is None else min(stop, end)
                return True if self._release(self.end_time) else None
        return False

    def _monotonic(self, pts: int | None) -> int:
        """``pts`` made strictly increasing: a missing one continues the frame step, a
        duplicate or backward one moves to the next free tick (``_nudged``; counted in
        ``repaired`` when the frame is kept); no frame is dropped for its timestamp."""
        last = self._last_pts
        self._nudged = False
        if last is None:
            pts = 0 if pts is None else pts
        elif pts is None:
            pts = last + (self._step or 1)
        elif pts <= last:
            pts = last + 1
            self._nudged = True
        else:
            self._step = pts - last
        self._last_pts = pts
        return pts

    def _best_effort(self, frame: av.VideoFrame) -> int | None:
        """The frame's timestamp from the source chosen by :func:`timestamp_source`.

        With dts (packed B-frames) a frame without one is the last, flushed frame: its pts is
        the stale one of the frame before it, so None lets :meth:`_monotonic` continue the step.
        """
        if self._use_dts:
            return frame.dts
        return frame.pts if frame.pts is not None else frame.dts

    def _release(self, until: float | None, final: bool = False) -> bool:
        """Put pending copied packets with time before ``until`` downstream (all on ``final``
        when no end is known); drop the rest on ``final``."""
        keep: list[tuple[float, Passthrough]] = []
        for t, item in self._pending:
            if until is None or t < until - 1e-6:
                if not self._put(item):
                    return False
            elif not final:
                keep.append((t, item))
        self._pending = keep
        return True

    def _decoded_frames(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        """Decode ``packet`` (None: flush), deinterlacing when needed (see the class doc)."""
        frames = self._decode(packet)
        if self.deinterlace == "off":
            return frames
        out: list[av.VideoFrame] = []
        for frame in frames:
            if self._deinterlacer is None:
                declared = is_interlaced(self.field_order)
                if not (frame.interlaced_frame or declared):
                    out.append(frame)
                    continue
                all_frames = declared and not frame.interlaced_frame
                self._deinterlacer = Deinterlacer(self.time_base, self.field_order, all_frames)
                self.warnings.append(notice(self.field_order))
            out.extend(self._deinterlacer.push(frame))
        if packet is None and self._deinterlacer is not None:
            out.extend(self._deinterlacer.flush())
        return out

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return self.video.decode(packet) if packet is not None else self.video.decode(None)
        except av.error.EOFError:
            return []  # already flushed by demux's final empty packet
        except av.error.InvalidDataError as exc:
            if self.frames_read == 0 and packet is None:
                raise
            self.warnings.append(f"skipped an unreadable packet ({exc})")
            return []

    def _damaged(self, exc: Exception) -> None:
        if self.frames_read == 0:
            raise InputError(f"{self.path}: cannot decode the video ({exc})") from None
        self.warnings.append(
            f"the file is damaged after frame {self.frames_read}; "
            f"kept the {self.frames_read} readable frames ({exc})"
        )


def frame_to_rgb(
    frame: av.VideoFrame,
    colour: Colour | None = None,
    *,
    deep: bool = False,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """Decoded frame -> ``(H, W, 3)`` RGB in display orientation (rotation applied), converted
    with the frame's own matrix and range (``colour``'s where it has none; see
    :func:`vidx.io.colour.to_rgb`): uint8, or uint16 when ``deep`` and the source has more
    than 8 bits."""
    rgb = to_rgb(frame, colour, deep=deep, reformatter=reformatter)
    turns = (int(frame.rotation) % 360) // 90
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def timestamp_source(path: Path, probe_frames: int = 16) -> str:
    """``pts`` or ``dts``: which decoded-frame timestamp runs forward in display order.

    Like FFmpeg's best-effort timestamp, but decided up front on the first frames: packed
    B-frames in AVI give decoded frames stale pts while their dts are right; everywhere else
    pts is the truth.
    """
    faults = {"pts": 0, "dts": 0}
    last: dict[str, int | None] = {"pts": None, "dts": None}
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            for i, frame in enumerate(container.decode(video=0)):
                for key, value in (("pts", frame.pts), ("dts", frame.dts)):
                    if value is None:
                        faults[key] += 1
                        continue
                    previous = last[key]
                    if previous is not None and value <= previous:
                        faults[key] += 1
                    last[key] = value
                if i + 1 >= probe_frames:
                    break
    except av.error.FFmpegError:
        pass
    return "dts" if faults["pts"] > faults["dts"] else "pts"
