"""Write frames as an image sequence (``-o out/%06d.png``), each file whole or not at all.

Each frame is encoded by FFmpeg's image encoder for the extension (PNG, TIFF, DPX, EXR) in a
thread of its own, written to a hidden temp file in the same folder and renamed into place, so a
frame on disk is always complete: a crashed run leaves finished frames and no partial one, and
finished frames are what a resumed run keeps (see :mod:`vidx.jobs.sequence_job`).

Convention: uint16 frames stay 16-bit in PNG, TIFF and DPX (``rgb48``), uint8 frames are 8-bit;
EXR holds half or float samples of the picture's code values scaled to [0, 1] (the source's
transfer, not scene-linear light), so a sequence read back gives the pixels written.
"""

from __future__ import annotations

import os
import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidx.errors import OptionError, OutputError
from vidx.io.colour import to_rgb
from vidx.io.image_sequence import SEQUENCE_EXTS, frame_path
from vidx.io.reader import Passthrough
from vidx.io.writer import END, QueuedWriter

# extension -> (encoder, pixel format for 8-bit frames, for 16-bit frames)
ENCODERS = {
    ".png": ("png", "rgb24", "rgb48be"),
    ".tif": ("tiff", "rgb24", "rgb48le"),
    ".tiff": ("tiff", "rgb24", "rgb48le"),
    ".dpx": ("dpx", "rgb24", "rgb48le"),
    ".exr": ("exr", "gbrpf32le", "gbrpf32le"),
}
EXR_TYPES = ("half", "float")


def temp_frame(path: Path) -> Path:
    """Where frame ``path`` is written before it is renamed into place."""
    return path.with_name(f".{path.name}.part")


class SequenceWriter(QueuedWriter):
    """Threaded image-sequence writer with the interface of :class:`vidx.io.writer.Writer`
    (``put_frame``, ``put_decoded``, ``put_packet``, ``finish``, ``abort``, ``warnings``,
    ``frames_written``). Frame i goes to number ``first_number + i`` of ``pattern``.

    ``copy_from``: the input's streams; a sequence holds none, so audio and subtitles are
    left out with one warning.
    """

    def __init__(
        self,
        pattern: str | Path,
        *,
        first_number: int = 1,
        exr: str = "half",
        copy_from: list = (),  # type: ignore[assignment]
        queue_size: int = 4,
    ) -> None:
        self.output = Path(pattern)
        ext = self.output.suffix.lower()
        if ext not in SEQUENCE_EXTS:
            raise OptionError(
                f"{pattern}: an image sequence is one of {', '.join(SEQUENCE_EXTS)}",
                param="output",
            )
        if exr not in EXR_TYPES:
            raise OptionError(f"must be one of {', '.join(EXR_TYPES)}, got {exr!r}", param="exr")
        self.encoder, self._eight, self._deep = ENCODERS[ext]
        self.options = {"format": exr} if ext == ".exr" else {}
        self.first_number = first_number
        self.frames_written = 0
        kinds = sorted({s.type for s in copy_from if s.type in ("audio", "subtitle")})
        self.warnings: list[str] = []
        if kinds:
            self.warnings.append(
                f"{self.output.name}: an image sequence holds no {' or '.join(kinds)}; the "
                f"source's {' and '.join(kinds)} tracks are left out"
            )
        self._rgb = VideoReformatter()  # the writer thread's
        self._decoded = VideoReformatter()  # the caller's (put_decoded)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._current: Path | None = None  # the temp file being written
        self._thread = threading.Thread(target=self._run, name="vidx-sequence", daemon=True)
        self._thread.start()

    # -- producer side -------------------------------------------------------------------------

    def put_frame(self, rgb: np.ndarray, pts: int | None) -> None:
        """Queue one ``(H, W, 3)`` uint8/uint16 frame (copied here: the caller may reuse it)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"put_frame takes (H, W, 3) uint8/uint16, got {rgb.dtype} {rgb.shape}")
        self._put(np.array(rgb, copy=True))

    def put_decoded(self, frame: av.VideoFrame, pts: int | None, method: str = "") -> None:
        """Queue a decoded source frame (converted to RGB with its own matrix and range; it is
        never resized here, so ``method`` is unused: see ``pipeline._straight``)."""
        self._put(to_rgb(frame, deep=True, reformatter=self._decoded))

    def put_packet(self, item: Passthrough) -> None:
        """Nothing: a sequence holds no other stream (see ``warnings``)."""

    def finish(self) -> Path:
        """Wait until every queued frame is on disk; returns the pattern."""
        self._put(END)
        self._thread.join()
        if self._error is not None:
            raise self._fail()
        return self.output

    def abort(self) -> None:
        """Stop once the frames already queued are on disk (each is whole, and a resumed run
        keeps them); the one being written when the writer itself fails is removed. Never
        raises."""
        if self._thread.is_alive():
            try:
                self._put(END)
            except BaseException:  # noqa: BLE001 - the writer failed or stopped: just end it
                self._error = self._error or OutputError("aborted")
            self._thread.join()
        if self._current is not None:
            self._current.unlink(missing_ok=True)

    # -- writer thread -------------------------------------------------------------------------

    def _handle(self, rgb: np.ndarray) -> None:
        path = frame_path(self.output, self.first_number + self.frames_written)
        data = self.encode(rgb)
        tmp = temp_frame(path)
        self._current = tmp
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        self._current = None
        self.frames_written += 1

    def encode(self, rgb: np.ndarray) -> bytes:
        """One ``(H, W, 3)`` uint8/uint16 picture as the bytes of one file."""
        h, w = rgb.shape[:2]
        deep = rgb.dtype == np.uint16
        pix_fmt = self._deep if deep else self._eight
        if self.encoder == "exr":  # in numpy: swscale's float path is off by up to 33/65535
            scaled = rgb.astype(np.float32) / np.float32(65535 if deep else 255)
            frame = av.VideoFrame.from_ndarray(scaled, pix_fmt)
        else:
            source = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb), "rgb48le" if deep else "rgb24"
            )
            frame = self._rgb.reformat(source, format=pix_fmt)
        ctx: Any = av.CodecContext.create(self.encoder, "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, pix_fmt
        ctx.time_base = Fraction(1, 1)
        ctx.options = dict(self.options)
        packets = [*ctx.encode(frame), *ctx.encode(None)]
        return b"".join(bytes(p) for p in packets)
