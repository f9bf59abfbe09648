"""``--keep`` boxes: ``x,y,w,h`` in source pixels or fractions of the frame, several with ``;``.

:mod:`vidx.regions` draws them on the frame.
"""

from __future__ import annotations

import math

from vidx.errors import OptionError

Box = tuple[float, float, float, float]


def parse_boxes(text: str) -> list[tuple[Box, bool]]:
    """``"x,y,w,h; ..."`` -> ``[((x, y, w, h), fraction)]``. A box is in fractions of the frame
    when every value is at most 1 and one is written with a decimal point (``0.1,0.8,0.2,0.1``),
    else in source pixels (``16,400,120,60``)."""
    out: list[tuple[Box, bool]] = []
    for part in str(text).split(";"):
        if not part.strip():
            continue
        items = [v.strip() for v in part.split(",")]
        try:
            values = [float(v) for v in items]
        except ValueError:
            values = []
        ok = len(values) == 4 and all(math.isfinite(v) and v >= 0 for v in values)
        if not ok or values[2] <= 0 or values[3] <= 0:
            raise OptionError(
                f"must be boxes x,y,w,h (pixels, or fractions 0-1) separated by ';', got {text!r}",
                param="keep",
            )
        fraction = all(v <= 1 for v in values) and any("." in v for v in items)
        if fraction and (values[0] + values[2] > 1 + 1e-6 or values[1] + values[3] > 1 + 1e-6):
            raise OptionError(f"box {part.strip()!r} reaches past the frame's edge", param="keep")
        out.append(((values[0], values[1], values[2], values[3]), fraction))
    if not out:
        raise OptionError(f"must name at least one box x,y,w,h, got {text!r}", param="keep")
    return out
