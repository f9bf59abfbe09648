"""Still pictures: read and write them at full depth, and read one as a clip.

Convention: pictures are ``(H, W, 3)`` RGB arrays, uint8 or uint16 (16-bit PNG/TIFF keep their
depth). Alpha is composited onto black (transparent pixels become black, the colour of the
canvas padding); grayscale becomes three equal channels; JPEG/TIFF EXIF orientation is applied.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidx.errors import InputError, OptionError, OutputError
from vidx.frame import Frame
from vidx.io.probe import VideoInfo

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
DEEP_EXTS = (".png", ".tif", ".tiff")  # formats that hold 16 bits per channel
QUALITY = 95
# the frame number of an image-sequence pattern (``%d``, ``%06d``; see vidx.io.image_sequence)
FRAME_NUMBER = re.compile(r"%(0\d+)?d")  # JPEG and WebP quality

# EXIF orientation -> how to turn the stored pixels into the displayed picture
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=1),
}


def is_image_path(path: str | Path) -> bool:
    """True when ``path`` has a still-image extension (case-insensitive) and is not an image
    sequence's pattern (``frames/%06d.png``)."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTS and not FRAME_NUMBER.search(p.name)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` uint8 or uint16 -> uint8 (16-bit rounded: ``round(v * 255 / 65535)``)."""
    if image.dtype == np.uint8:
        return image
    return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _orientation(path: Path) -> int:
    """EXIF orientation (1..8) of a JPEG/TIFF/WebP, 1 when absent or unreadable."""
    try:
        from PIL import Image

        with Image.open(path) as img:
            value = int(img.getexif().get(0x0112, 1))
    except Exception:  # Pillow cannot parse every file cv2 can; then no orientation is known
        return 1
    return value if value in _ORIENT else 1


def read_image(path: str | Path) -> np.ndarray:
    """Read a picture as ``(H, W, 3)`` RGB, uint8, or uint16 for 16-bit PNG/TIFF.

    Alpha is composited onto black, grayscale is repeated to 3 channels, float TIFFs are clipped
    to [0, 1] and stored as uint16, EXIF orientation is applied (``IMREAD_UNCHANGED`` ignores it,
    so it is read with Pillow). Missing or unreadable files are an InputError.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image file")
    try:
        raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InputError(f"{p}: not a readable image ({exc})") from None
    if raw is None or raw.size == 0:
        raise InputError(f"{p}: not a readable image (empty, damaged or an unknown format)")
    if raw.dtype in (np.float32, np.float64):
        raw = (np.clip(np.nan_to_num(raw), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    if raw.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: {raw.dtype} pixels are not supported (use 8- or 16-bit images)")
    if raw.ndim == 2:
        raw = raw[:, :, None]
    channels = raw.shape[2]
    if channels in (2, 4):  # colour (or gray) + alpha: composite onto black
        top = 65535.0 if raw.dtype == np.uint16 else 255.0
        alpha = raw[:, :, -1:].astype(np.float32) / top
        colour = raw[:, :, :-1].astype(np.float32) * alpha
        raw = (colour + 0.5).astype(raw.dtype)
        channels -= 1
    if channels == 1:
        rgb = np.repeat(raw, 3, axis=2)
    elif channels == 3:
        rgb = raw[:, :, ::-1]
    else:
        raise InputError(f"{p}: images with {channels} channels are not supported")
    turn = _ORIENT.get(_orientation(p))
    if turn is not None:
        rgb = turn(rgb)
    return np.ascontiguousarray(rgb)


def temp_path(path: Path) -> Path:
    """Where ``path`` is written before it appears: same folder and extension, hidden name."""
    return path.with_name(f".{path.stem}.part{path.suffix}")


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write ``(H, W, 3)`` RGB uint8/uint16 atomically (temp file, then ``os.replace``).

    uint16 is kept in PNG/TIFF and rounded to 8 bits for JPEG/WebP (quality 95).
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in IMAGE_EXTS:
        raise OptionError(f"-o {p}: unknown image extension; use one of {', '.join(IMAGE_EXTS)}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_image takes (H, W, 3) uint8/uint16, got {rgb.dtype} {rgb.shape}")
    if rgb.dtype == np.uint16 and ext not in DEEP_EXTS:
        rgb = to_uint8(rgb)
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, QUALITY]
    tmp = temp_path(p)
    try:
        ok = cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[:, :, ::-1]), params)
        if not ok:
            raise OutputError(f"cannot write {p} (the encoder refused the picture)")
        os.replace(tmp, p)
    except cv2.error as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {p}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


# -- a picture as a clip, for the video pipeline -------------------------------------------------


@dataclass
class StillStream:
    """What the pipeline reads from ``reader.video``: the frame rate of the made-up clip."""

    width: int
    height: int
    average_rate: Fraction
    guessed_rate: Fraction
    time_base: Fraction


@dataclass
class StillContainer:
    """What the pipeline reads from ``reader.container``: metadata (none for a picture)."""

    metadata: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        pass


class StillReader:
    """A picture as a clip of ``frames`` identical frames at ``rate`` fps, with the interface
    of :class:`vidx.io.reader.Reader` (iterate :class:`Frame`; ``video``, ``time_base``,
    ``copied``, ``container``, ``warnings``, ``close()``). Frames are uint8 (16-bit is rounded)
    unless ``deep``: then a 16-bit picture stays uint16.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        frames: int = 1,
        rate: Fraction | int = 25,
        deep: bool = False,
    ) -> None:
        if frames < 1:
            raise OptionError(f"a still clip needs at least 1 frame, got {frames}")
        self.path = Path(path)
        self.rgb = read_image(self.path) if deep else to_uint8(read_image(self.path))
        h, w = self.rgb.shape[:2]
        rate = Fraction(rate)
        self.count = frames
        self.time_base = 1 / rate
        self.video = StillStream(w, h, rate, rate, self.time_base)
        self.container = StillContainer()
        self.copied: list = []
        self.warnings: list[str] = []
        self.frames_read = 0

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.count):
            self.frames_read = i + 1
            yield Frame(self.rgb, i, self.time_base, i)

    def frames(self) -> Iterator[Frame]:
        return iter(self)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> StillReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def still_info(path: str | Path, *, frames: int = 1, rate: Fraction | int = 25) -> VideoInfo:
    """A :class:`VideoInfo` for a picture read as a clip (what ``probe`` gives for a video)."""
    image = read_image(path)
    h, w = image.shape[:2]
    rate = Fraction(rate)
    return VideoInfo(
        path=str(path),
        format="image",
        duration=float(frames / rate),
        width=w,
        height=h,
        rotation=0,
        codec=Path(path).suffix.lower().lstrip("."),
        pix_fmt="rgb48" if image.dtype == np.uint16 else "rgb24",
        bit_depth=16 if image.dtype == np.uint16 else 8,
        time_base=str(1 / rate),
        average_rate=str(rate),
        frames=frames,
        frames_exact=True,
        streams=[],
    )
