"""The one pixel limit, ``max_pixels`` (``--max-pixels``): its default and its ceiling.

:mod:`vidx.io.inputs` applies it to every picture a job decodes or makes.
"""

from __future__ import annotations

from vidx.errors import OptionError

MAX_PIXELS = 16384 * 16384  # default ``max_pixels`` (``--max-pixels``): one 16K square frame
MAX_PIXELS_CEILING = 4 * MAX_PIXELS  # the most ``max_pixels`` may be: one 32768x32768 frame


def check_limit(limit: int) -> None:
    """OptionError unless ``limit`` is a pixel count in ``[1, MAX_PIXELS_CEILING]``."""
    ok = isinstance(limit, int) and not isinstance(limit, bool)
    if not (ok and 1 <= limit <= MAX_PIXELS_CEILING):
        raise OptionError(
            f"must be a pixel count from 1 to {MAX_PIXELS_CEILING} (32768x32768), got {limit!r}",
            param="max_pixels",
        )
