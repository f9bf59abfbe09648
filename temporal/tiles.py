"""Which tiles of a per-frame transform must run this frame: the rest are held by propagation.

A transform that runs tile by tile (a learned upscaler) need not run a tile whose output the
propagated layers hold (``temporal.propagate``: the source there, after the flow, matches the
earlier one within this pair's noise floor). ``tile_boxes`` cuts the transform's input into a
grid of near-equal tiles; ``tiles_to_run`` marks a tile when any of its output pixels leaves
more than ``level`` of its weight to the fresh result.

Convention: boxes are ``(y0, y1, x0, x1)`` half-open, in input pixels; sizes ``(height,
width)``; ``remaining`` is ``(H, W)`` float in [0, 1] at the output size (1 = the fresh result
only, 0 = the propagated layers only).
"""

from __future__ import annotations

import math

import numpy as np

from temporal._checks import check_image, check_size, check_unit
from temporal.errors import TemporalError

Box = tuple[int, int, int, int]


def _cuts(length: int, tile: int) -> list[int]:
    count = max(1, math.ceil(length / tile))
    return [round(i * length / count) for i in range(count + 1)]


def tile_boxes(size: tuple[int, int], tile: int) -> list[Box]:
    """Row-major grid of ``ceil(H / tile) x ceil(W / tile)`` near-equal tiles covering ``size``
    (a ``tile`` of 0 or at least the frame: one box, the whole frame)."""
    height, width = check_size(size)
    if int(tile) != tile or tile < 0:
        raise TemporalError(f"tile must be 0 or a positive integer, got {tile!r}")
    if tile == 0:
        return [(0, height, 0, width)]
    ys, xs = _cuts(height, tile), _cuts(width, tile)
    rows, cols = zip(ys[:-1], ys[1:], strict=True), list(zip(xs[:-1], xs[1:], strict=True))
    return [(y0, y1, x0, x1) for y0, y1 in rows for x0, x1 in cols]


def output_box(box: Box, size: tuple[int, int], out_size: tuple[int, int]) -> Box:
    """``box`` of an input of ``size`` as the box it covers in an output of ``out_size``."""
    (h, w), (oh, ow) = check_size(size), check_size(out_size, "out_size")
    y0, y1, x0, x1 = box
    return (round(y0 * oh / h), round(y1 * oh / h), round(x0 * ow / w), round(x1 * ow / w))


def tiles_to_run(
    remaining: np.ndarray | None, boxes: list[Box], size: tuple[int, int], level: float
) -> list[bool]:
    """For each of ``boxes`` (on an input of ``size``) whether the transform must run it: some
    pixel of its output keeps more than ``level`` of its weight for the fresh result.
    ``remaining`` None (a fresh start: nothing is held) runs every tile."""
    check_size(size)
    level = check_unit(level, "level")
    if remaining is None:
        return [True] * len(boxes)
    remaining = check_image(remaining, "remaining")
    if remaining.ndim != 2:
        raise TemporalError(f"remaining must have shape (H, W), got {remaining.shape}")
    out_size = remaining.shape[:2]
    need = []
    for box in boxes:
        y0, y1, x0, x1 = output_box(box, size, out_size)
        part = remaining[y0:y1, x0:x1]
        need.append(bool(part.size and float(part.max()) > level))
    return need
