"""Checks on an input before anything decodes it: a regular file, and not too many pixels.

Everything here decides from metadata only. :func:`check_regular_file` uses ``os.stat`` and never
opens the path (opening a FIFO blocks until a writer appears, reading a device never ends), and
:func:`image_size` reads a picture's header, not its pixels, so a crafted 30000x30000 PNG is
refused before it costs any memory.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from vidx.errors import InputError, OptionError

MAX_PIXELS = 16384 * 16384  # default ``max_pixels`` (``--max-pixels``): one 16K square frame

_PIL_GUARD = threading.Lock()  # Pillow's bomb limit is a module global: swap it under a lock


def file_problem(path: Path, allow_device: bool = False) -> str | None:
    """Why ``path`` is not a regular file vidx can read, as a phrase; None when it is fine.

    Symbolic links are followed (a link to a regular file is fine). Decided with ``os.stat``
    only; the file is never opened.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            return "is a broken symbolic link"
        return "does not exist"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:  # ENAMETOOLONG, ELOOP, ENOTDIR, ...
        return f"cannot be read ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            return "cannot be read (permission denied)"
        return "is empty" if st.st_size == 0 else None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and allow_device:
        return None
    kinds = {
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    return f"is {kind}, not a regular file; save it to a file first"


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
        OptionError: ``limit`` is not a positive integer.
        InputError: the size is empty, or larger than ``limit``; the message says how to raise it.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise OptionError(f"must be a positive pixel count, got {limit!r}", param="max_pixels")
    if width < 1 or height < 1:
        raise InputError(f"{what} has no pixels ({width}x{height})")
    pixels = width * height
    if pixels > limit:
        raise InputError(
            f"{what} is {width}x{height} ({_mega(pixels)} megapixels), over the limit of "
            f"{limit} pixels ({_mega(limit)} MP); if you trust it, raise the limit with "
            f"--max-pixels {pixels} (max_pixels in a job file)"
        )


def image_size(path: Path, what: str = "input") -> tuple[int, int]:
    """``(width, height)`` of a picture, from its header only (Pillow opens lazily).

    Pillow's own decompression-bomb guard is off for this read (vidx applies ``max_pixels``
    with :func:`check_pixels` instead). The path is checked with :func:`check_regular_file`
    first, so a FIFO cannot block here.

    Raises:
        InputError: not a regular file, or not a picture Pillow can read (one line).
    """
    from PIL import Image

    check_regular_file(path, what)
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


def _mega(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}" if pixels >= 10e6 else f"{pixels / 1e6:.1f}"


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
