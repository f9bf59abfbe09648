"""Checks on an input before anything decodes it: a regular file, and not too many pixels.

Everything here decides from metadata only. :func:`check_regular_file` uses ``os.stat`` and never
opens the path (opening a FIFO blocks until a writer appears, reading a device never ends), and
:func:`image_size` reads a picture's header, not its pixels (Pillow's lazy open; vidx's own
reader for the EXR and DPX headers FFmpeg decodes), so a crafted 30000x30000 PNG is refused
before it costs any memory.

Convention: one pixel limit, ``max_pixels`` (``--max-pixels``, :data:`MAX_PIXELS` by default, at
most :data:`MAX_PIXELS_CEILING`), applies to every picture a job decodes or makes: the input (a
video's frames, a picture, every frame of an image sequence), the output size, the style image
and the mask.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import BinaryIO

from vidx.errors import InputError
from vidx.values.paths import file_problem
from vidx.values.pixels import MAX_PIXELS, MAX_PIXELS_CEILING, check_limit  # noqa: F401

_PIL_GUARD = threading.Lock()  # Pillow's bomb limit is a module global: swap it under a lock


def check_regular_file(path: Path, what: str = "input", allow_device: bool = False) -> None:
    """InputError unless ``path`` is a readable, non-empty regular file (or a link to one).

    ``what`` names the file in the message (``"input"``, ``"style image"``). Character and
    block devices are refused unless ``allow_device``. The path is never opened.
    """
    problem = file_problem(Path(path), allow_device)
    if problem is not None:
        raise InputError(f"{what} {path} {problem}")


def check_pixels(width: int, height: int, limit: int = MAX_PIXELS, what: str = "input") -> None:
    """InputError when a ``width x height`` picture or frame is empty or over ``limit`` pixels.

    Raises:
        OptionError: ``limit`` is not an integer in ``[1, MAX_PIXELS_CEILING]``.
        InputError: the size is empty, or larger than ``limit``; the message says how to raise
            it (or that it is beyond what vidx reads).
    """
    check_limit(limit)
    if width < 1 or height < 1:
        raise InputError(f"{what} has no pixels ({width}x{height})")
    pixels = width * height
    if pixels > limit:
        raise InputError(f"{what} is {size_text(width, height)}, {over_limit(pixels, limit)}")


def size_text(width: int, height: int) -> str:
    """``"30000x30000 (900 megapixels)"``."""
    return f"{width}x{height} ({_mega(width * height)} megapixels)"


def over_limit(pixels: int, limit: int) -> str:
    """The rest of a refusal: the limit, and how far ``--max-pixels`` may be raised."""
    head = f"over the limit of {limit} pixels ({_mega(limit)} MP)"
    if pixels > MAX_PIXELS_CEILING:
        return f"{head}; vidx takes at most {MAX_PIXELS_CEILING} pixels (32768x32768)"
    return (
        f"{head}; if you trust it, raise the limit with --max-pixels {pixels} (max_pixels in a "
        "job file)"
    )


def image_size(path: Path, what: str = "input") -> tuple[int, int]:
    """``(width, height)`` of a picture, from its header only (Pillow opens lazily; EXR and DPX
    headers are read here, see :func:`exr_size` and :func:`dpx_size`).

    Pillow's own decompression-bomb guard is off for this read (vidx applies ``max_pixels``
    with :func:`check_pixels` instead). The path is checked with :func:`check_regular_file`
    first, so a FIFO cannot block here.

    Raises:
        InputError: not a regular file, or not a picture vidx can read (one line).
    """
    from PIL import Image

    check_regular_file(path, what)
    header = _HEADERS.get(Path(path).suffix.lower())
    if header is not None:  # formats Pillow cannot open, read as FFmpeg's decoder reads them
        try:
            size = header(Path(path))
        except OSError as exc:
            raise InputError(f"{what} {path} cannot be read as a picture ({_line(exc)})") from None
        if size is None:
            raise InputError(f"{what} {path} is not a picture vidx can read")
        return size
    with _PIL_GUARD:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Image.UnidentifiedImageError:
            raise InputError(f"{what} {path} is not a picture vidx can read") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"{what} {path} cannot be read as a picture ({_line(exc)})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    return int(width), int(height)


def check_image_file(path: Path, limit: int = MAX_PIXELS, what: str = "input") -> tuple[int, int]:
    """:func:`check_regular_file`, :func:`image_size` and :func:`check_pixels` in one call.

    Returns ``(width, height)``; call it before ``cv2.imread``/``Image.load`` decodes pixels.
    """
    width, height = image_size(path, what)
    check_pixels(width, height, limit, f"{what} {path}")
    return width, height


EXR_MAGIC = b"\x76\x2f\x31\x01"
EXR_WINDOWS = (b"dataWindow", b"displayWindow")
DPX_MAGIC = {b"SDPX": ">", b"XPDS": "<"}  # big- and little-endian DPX


def exr_size(path: Path, max_attributes: int = 4096) -> tuple[int, int] | None:
    """``(width, height)`` from an OpenEXR header: the larger of its display window (the
    picture FFmpeg's decoder makes) and its data window (what it reads), each way; None when
    the file is not an EXR or its header is cut short. Only the header is read; attribute
    values other than the windows are skipped (seeked over), so a large preview costs nothing.
    """
    windows: dict[bytes, tuple[int, int]] = {}
    with open(path, "rb") as f:
        if f.read(8)[:4] != EXR_MAGIC:  # magic, then version and flags
            return None
        for _ in range(max_attributes):
            name = _c_string(f)
            if not name:  # the empty name ends the header (None: cut short)
                break
            kind, raw = _c_string(f), f.read(4)
            if kind is None or len(raw) != 4:
                return None
            (length,) = struct.unpack("<i", raw)
            if length < 0:
                return None
            if name in EXR_WINDOWS and kind == b"box2i" and length == 16:
                value = f.read(16)
                if len(value) != 16:
                    return None
                x0, y0, x1, y1 = struct.unpack("<4i", value)
                windows[name] = (x1 - x0 + 1, y1 - y0 + 1)
            else:
                f.seek(length, os.SEEK_CUR)
    if not windows:
        return None
    return max(w for w, _ in windows.values()), max(h for _, h in windows.values())


def dpx_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from a DPX header (pixels per line and lines per element of the image
    information header, at byte 772, in the byte order its magic says); None when not a DPX."""
    with open(path, "rb") as f:
        head = f.read(780)
    order = DPX_MAGIC.get(head[:4])
    if order is None or len(head) < 780:
        return None
    width, height = struct.unpack_from(f"{order}II", head, 772)
    return int(width), int(height)


_HEADERS = {".exr": exr_size, ".dpx": dpx_size}


def _c_string(f: BinaryIO, longest: int = 256) -> bytes | None:
    """A NUL-terminated name at ``f``'s position (the file left after the NUL); None when there
    is no NUL within ``longest`` bytes."""
    start = f.tell()
    chunk = f.read(longest)
    end = chunk.find(b"\0")
    if end < 0:
        return None
    f.seek(start + end + 1)
    return chunk[:end]


def _mega(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}" if pixels >= 10e6 else f"{pixels / 1e6:.1f}"


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
