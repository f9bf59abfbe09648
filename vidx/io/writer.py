"""Encode frames and copy passthrough packets in a thread of its own, into ``OUTPUT.part``.

The file appears under its real name only when it is complete; on any failure (bad option,
disk full, killed encoder, an exception upstream) the ``.part`` file is removed.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from vidx.errors import OptionError, OutputError
from vidx.io.colour import SWS_MATRIX, Colour, encode_flags, follow_source, sws_matrix
from vidx.io.reader import Passthrough
from vidx.io.tracks import add_copy, refusal, write_reel, write_timecode
from vidx.values.encode import (  # noqa: F401 - the encoder settings, also reached from here
    CODECS,
    DEFAULT_CRF,
    DEFAULT_PIX_FMT,
    DEFAULT_PROFILE,
    PROFILES,
    X26X_PRESETS,
    EncodeSettings,
    encoder_formats,
)

MIN_SIZE = {"dnxhr": (256, 120)}  # FFmpeg's DNxHR encoder refuses smaller pictures
FORMATS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".mxf": "mxf",
}
CONTAINER_CODECS = {
    "mp4": {"h264", "hevc", "av1"},
    "mov": {"h264", "hevc", "av1", "prores", "dnxhr"},
    "matroska": {"h264", "hevc", "av1", "prores"},
    "webm": {"av1"},
    "mxf": {"dnxhr"},
}


def has_alpha(pix_fmt: str | None) -> bool:
    """Whether frames of ``pix_fmt`` carry an alpha channel."""
    try:
        return pix_fmt is not None and any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except ValueError:
        return False


def keeping_alpha(settings: EncodeSettings, source_pix_fmt: str | None) -> EncodeSettings:
    """``settings`` with a pixel format that has alpha when the source has alpha, none was
    asked for and the profile holds it (ProRes 4444 and 4444 XQ: ``yuva444p10le``)."""
    if settings.pix_fmt is not None or not has_alpha(source_pix_fmt):
        return settings
    alpha = [f for f in settings.profile_formats if has_alpha(f)]
    return replace(settings, pix_fmt=alpha[0]) if alpha else settings


def following_source(settings: EncodeSettings, source_pix_fmt: str | None) -> EncodeSettings:
    """``settings`` with the pixel format that keeps the source's bit depth and chroma when
    none was asked for (h264, hevc, av1; see :func:`vidx.io.colour.follow_source`)."""
    if settings.pix_fmt is not None:
        return settings
    usable = encoder_formats(settings.encoder)
    pix_fmt = follow_source(settings.codec, usable, source_pix_fmt, settings.pixel_format)
    return settings if pix_fmt == settings.pixel_format else replace(settings, pix_fmt=pix_fmt)


def container_format(path: Path, codec: str) -> str:
    """The muxer for ``path``'s extension; an unknown extension or a codec it cannot hold is an
    OptionError."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OptionError(
            f"{path}: unknown video extension; use one of {', '.join(FORMATS)}", param="output"
        )
    if codec not in CONTAINER_CODECS[fmt]:
        holders = [s for s, f in FORMATS.items() if codec in CONTAINER_CODECS[f] and s != ".m4v"]
        raise OptionError(
            f"{codec} cannot be stored in a {path.suffix} file; use {' or '.join(holders)}",
            param="codec",
        )
    return fmt


def part_path(output: Path) -> Path:
    return output.with_name(output.name + ".part")


@dataclass
class VideoTarget:
    """What the encoded video stream looks like: canvas size, timing of the source."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    metadata: dict[str, str] = field(default_factory=dict)
    timecode: str | None = None  # of the first frame (vidx.io.tracks)
    reel: str | None = None  # the source's reel name, kept with the timecode
    #: the output's colour tags, and the matrix and range frames are converted with
    #: (normally the source's, see vidx.io.colour); None: BT.709 from 720p up, BT.601 below
    colour: Colour | None = None


END = object()  # the last item of a writer's queue
ABSURD_DTS_SECONDS = 3600  # a pts and dts further apart than this: the encoder's dts is junk
#: libswscale's resampler for each classical upscaler (vidx.upscale.classic); shrinking uses
#: area averaging, as OpenCV's INTER_AREA does there
SWS_RESAMPLER = {"lanczos": Interpolation.LANCZOS, "bicubic": Interpolation.BICUBIC}


def resample(
    frame: av.VideoFrame,
    size: tuple[int, int],
    method: str,
    pix_fmt: str,
    colour: Colour,
    reformatter: VideoReformatter | None = None,
    threads: int = 0,
) -> av.VideoFrame:
    """A decoded frame resized to ``size = (w, h)`` and converted to ``pix_fmt`` in
    ``colour``'s matrix and range, in one libswscale pass that stays in YUV (no RGB round
    trip: what ``ffmpeg -vf scale=W:H:flags=lanczos`` does). The frame's own matrix and range
    are taken where it has them; ``threads`` for libswscale (0: every core). Returns
    ``frame`` itself when nothing changes."""
    own = frame.colorspace if frame.colorspace in SWS_MATRIX else colour.matrix
    own_range = frame.color_range or colour.range
    same_size = (frame.width, frame.height) == tuple(size)
    if (
        same_size
        and frame.format.name == pix_fmt
        and (own, own_range) == (colour.matrix, colour.range)
    ):
        return frame
    shrinking = size[0] <= frame.width and size[1] <= frame.height
    flags = Interpolation.AREA if shrinking else SWS_RESAMPLER[method]
    r = reformatter or VideoReformatter()
    return r.reformat(
        frame,
        width=size[0],
        height=size[1],
        format=pix_fmt,
        src_colorspace=sws_matrix(own),
        dst_colorspace=sws_matrix(colour.matrix),
        src_color_range=own_range,
        dst_color_range=colour.range,
        interpolation=None if same_size else flags,
        threads=threads,
    )


class QueuedWriter:
    """What a threaded writer shares: items queued for its thread, whose error comes back to
    the caller at the next put (as an OutputError when it is a file or FFmpeg error).

    A subclass sets ``output``, ``_queue``, ``_thread`` and ``_error``."""

    output: Path
    _queue: queue.Queue
    _thread: threading.Thread
    _error: BaseException | None

    def _put(self, item: object) -> None:
        while True:
            if self._error is not None:
                raise self._fail()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise self._fail() from None

    def _fail(self) -> BaseException:
        err = self._error
        if isinstance(err, OSError | av.error.FFmpegError):
            return OutputError(f"writing {self.output} failed: {err}")
        return err if err is not None else OutputError(f"the writer for {self.output} stopped")

    def _run(self) -> None:
        """The writer thread: each queued item to ``_handle`` until ``END`` (then ``_end``) or
        an abort; an error is kept for the caller's next put."""
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    item = None
                if self._error is not None:
                    return  # aborted
                if item is None:
                    continue
                if item is END:
                    self._end()
                    return
                self._handle(item)
        except BaseException as exc:
            self._error = exc

    def _handle(self, item: Any) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        """After the last item (nothing by default)."""


class Writer(QueuedWriter):
    """Threaded encoder: ``put_frame``/``put_packet`` in output order, then ``finish()``.

    ``copy_from`` are the input's streams to copy packet for packet (audio, subtitles, data
    tracks, attachments; one the container cannot hold is dropped with a warning, such audio
    is an OptionError, see :func:`vidx.io.tracks.refusal`). ``threads``: the encoder's and
    libswscale's CPU threads (0: every core).
    """

    def __init__(
        self,
        output: str | Path,
        settings: EncodeSettings,
        target: VideoTarget,
        copy_from: list[av.stream.Stream] = (),  # type: ignore[assignment]
        *,
        queue_size: int = 4,
        threads: int = 0,
    ) -> None:
        self.output = Path(output)
        self.threads = threads  # the encoder's and libswscale's (0: every core)
        self._last_dts: int | None = None
        self.part = part_path(self.output)
        self.settings = settings
        self.warnings: list[str] = []
        self.frames_written = 0
        fmt = container_format(self.output, settings.codec)
        self.container = av.open(str(self.part), "w", format=fmt)
        try:
            self._setup(target, list(copy_from))
        except BaseException:
            self.abort()
            raise
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vidx-writer", daemon=True)
        self._thread.start()

    def _setup(self, target: VideoTarget, copy_from: list[av.stream.Stream]) -> None:
        s = self.settings
        self.container.metadata.update(target.metadata)
        rate = target.rate if target.rate and target.rate > 0 else None
        vs: Any = self.container.add_stream(s.encoder, rate=rate, options=s.options())
        vs.width, vs.height = target.width, target.height
        vs.pix_fmt = s.pixel_format
        if self.threads:
            vs.codec_context.thread_count = self.threads
        vs.time_base = target.time_base
        vs.codec_context.time_base = target.time_base
        # tagged with what frames are converted with (vidx.io.colour)
        self.colour = target.colour or Colour().resolved(target.width, target.height)
        self.colour.apply(vs.codec_context)
        self._yuv = VideoReformatter()  # one swscale context for the writer thread
        self._flags = encode_flags(self.colour)
        write_reel(vs, target.reel)
        self.video = vs
        self.stream_map: dict[int, av.stream.Stream] = {}
        supported = set(self.container.supported_codecs)
        fmt = self.container.format.name
        for src in copy_from:
            dropped = refusal(src, fmt, supported, self.output.suffix)
            if dropped is not None:
                self.warnings.append(dropped)
                continue
            out = add_copy(self.container, src)
            if out is not None:
                self.stream_map[src.index] = out
        write_timecode(self.container, target.timecode)

    # -- producer side -------------------------------------------------------------------------

    def put_frame(self, rgb: np.ndarray, pts: int | None) -> None:
        """Queue one ``(H, W, 3)`` uint8 or uint16 (16-bit, quantised once, by the encoder's
        conversion) frame. Its pixels are copied here, in the caller's thread, so the caller
        may reuse or change ``rgb`` as soon as this returns."""
        fmt = "rgb48le" if rgb.dtype == np.uint16 else "rgb24"
        self._put(("frame", av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), fmt), pts))

    def put_decoded(self, frame: av.VideoFrame, pts: int | None, method: str = "lanczos") -> None:
        """Queue a decoded source frame as it is: a straight transcode, or a classical resize
        to the output size with ``method`` (see :func:`resample`), done in the writer thread
        in YUV, in the source's own colour space."""
        self._put(("decoded", (frame, method), pts))

    def put_packet(self, item: Passthrough) -> None:
        if item.stream_index in self.stream_map:
            self._put(("packet", item.packet, item.stream_index))

    def finish(self) -> Path:
        """Flush the encoder, close the file and move it to its final name."""
        self._put(END)
        self._thread.join()
        if self._error is not None:
            err = self._fail()
            self.abort()
            raise err
        os.replace(self.part, self.output)
        return self.output

    def abort(self) -> None:
        """Stop, close and remove the partial file; never raises."""
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():
            self._error = self._error or OutputError("aborted")
            while thread.is_alive():
                try:
                    self._queue.get(timeout=0.05)
                except queue.Empty:
                    pass
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is removed anyway
            pass
        self.part.unlink(missing_ok=True)

    # -- writer thread -------------------------------------------------------------------------

    def _end(self) -> None:
        for packet in self.video.encode(None):
            self._mux_video(packet)
        self.container.close()

    def _handle(self, item: Any) -> None:
        kind, payload, extra = item
        if kind == "frame":
            self._encode(payload, extra)
        elif kind == "decoded":
            frame, method = payload
            size = (self.video.width, self.video.height)
            yuv = resample(
                frame, size, method, self.settings.pixel_format, self.colour, self._yuv,
                self.threads,
            )  # fmt: skip
            self._encode(yuv, extra, convert_colour=False)
        else:
            payload.stream = self.stream_map[extra]
            self.container.mux(payload)

    def _mux_video(self, packet: av.Packet) -> None:
        """Mux one encoded video packet. libx265 gives clips shorter than its B-frame delay
        (one or two frames) an uninitialised decode timestamp (seen: -5.4e14 against a pts
        of 0), which the muxer refuses or, worse, writes; such a dts is set to the pts, kept
        after the previous one."""
        tb = packet.time_base
        if packet.pts is not None and packet.dts is not None and tb is not None:
            if abs(packet.pts - packet.dts) * tb > ABSURD_DTS_SECONDS:
                last = self._last_dts
                packet.dts = packet.pts if last is None else max(last + 1, packet.pts)
        self._last_dts = packet.dts
        self.container.mux(packet)

    def _encode(self, frame: av.VideoFrame, pts: int | None, convert_colour: bool = True) -> None:
        c = self.colour
        if convert_colour:  # RGB -> YUV with the matrix and range the output is tagged with
            frame = self._yuv.reformat(
                frame,
                format=self.settings.pixel_format,
                dst_colorspace=sws_matrix(c.matrix),
                dst_color_range=c.range,
                interpolation=self._flags,
                threads=self.threads,
            )
        c.apply(frame)
        frame.pts = pts
        frame.time_base = self.video.codec_context.time_base
        for packet in self.video.encode(frame):
            self._mux_video(packet)
        self.frames_written += 1
