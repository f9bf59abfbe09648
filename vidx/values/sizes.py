"""Output sizes: parse ``--size`` words and place a frame on the output canvas with ``--fit``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vidx.errors import OptionError

NAMED_SIZES = {
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "4k": (3840, 2160),
    "8k": (7680, 4320),
}
FITS = ("contain", "cover", "stretch")
MAX_FACTOR = 8  # the largest ``xN``: x16 on a 2048x2048 picture wrote a 6.4 GB PNG


@dataclass(frozen=True)
class SizeSpec:
    """What the user asked for.

    ``kind`` is ``source``, ``named``/``exact`` (a canvas of that size) or ``scale``.
    """

    kind: str
    width: int = 0
    height: int = 0
    factor: float = 1.0
    text: str = "source"


def parse_size(text: str) -> SizeSpec:
    """``source``, ``720p``/``1080p``/``1440p``/``4k``/``8k``, ``WxH`` or ``x2`` .. ``x8``.

    Whether the size a spec gives stays within ``max_pixels`` depends on the input; the plan
    checks it (:func:`vidx.jobs.run.plan`)."""
    word = text.strip().lower()
    if word == "source":
        return SizeSpec("source", text=word)
    if word in NAMED_SIZES:
        w, h = NAMED_SIZES[word]
        return SizeSpec("named", w, h, text=word)
    if m := re.fullmatch(r"x(\d+(?:\.\d+)?)", word):
        factor = float(m.group(1))
        if not 0 < factor <= MAX_FACTOR:
            raise OptionError(
                f"{text!r}: a scale factor must be above 0 and at most x{MAX_FACTOR}", param="size"
            )
        return SizeSpec("scale", factor=factor, text=word)
    if m := re.fullmatch(r"(\d+)x(\d+)", word):
        w, h = int(m.group(1)), int(m.group(2))
        if not (16 <= w <= 16384 and 16 <= h <= 16384):
            raise OptionError(
                f"{text!r}: width and height must be 16 to 16384 pixels", param="size"
            )
        return SizeSpec("exact", w, h, text=word)
    raise OptionError(
        f"{text!r} is not a size; use source, 720p, 1080p, 1440p, 4k, 8k, WxH or x2 .. x8",
        param="size",
    )


@dataclass(frozen=True)
class Layout:
    """Where the processed picture goes: resize it to ``content`` (w, h), then crop/pad it to
    ``canvas`` (w, h). ``canvas`` is even in both dimensions so every 4:2:0 codec takes it."""

    content: tuple[int, int]
    canvas: tuple[int, int]
    fit: str


def _even(n: int) -> int:
    return n + (n % 2)


def plan_layout(spec: SizeSpec, source: tuple[int, int], fit: str = "contain") -> Layout:
    """Decide content and canvas sizes for a source of ``(w, h)``.

    Named and ``WxH`` sizes give exactly those canvas dimensions (odd ones are rounded up to even
    with edge padding). ``source`` and ``xN`` keep the aspect ratio; an odd result gets one
    edge-replicated row/column so 4:2:0 encoders accept it.
    """
    if fit not in FITS:
        raise OptionError(f"must be one of {', '.join(FITS)}, got {fit!r}", param="fit")
    sw, sh = source
    if spec.kind == "source":
        return Layout((sw, sh), (_even(sw), _even(sh)), fit)
    if spec.kind == "scale":
        w, h = max(2, round(sw * spec.factor)), max(2, round(sh * spec.factor))
        return Layout((w, h), (_even(w), _even(h)), fit)
    cw, ch = spec.width, spec.height
    canvas = (_even(cw), _even(ch))
    if fit == "stretch":
        return Layout((cw, ch), canvas, fit)
    ratio = min(cw / sw, ch / sh) if fit == "contain" else max(cw / sw, ch / sh)
    w, h = max(1, round(sw * ratio)), max(1, round(sh * ratio))
    if fit == "contain":
        w, h = min(w, cw), min(h, ch)
    else:
        w, h = max(w, cw), max(h, ch)
    return Layout((w, h), canvas, fit)


def place(image: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """Centre ``image`` (H, W, 3) on a ``canvas`` of (w, h): pad with black or crop the overflow.

    A single missing row/column (odd size rounded up to even) is edge-replicated, not black.
    """
    cw, ch = canvas
    h, w = image.shape[:2]
    if (w, h) == (cw, ch):
        return image
    if cw - w <= 1 and ch - h <= 1 and cw >= w and ch >= h:
        return np.pad(image, ((0, ch - h), (0, cw - w), (0, 0)), mode="edge")
    top, left = (h - ch) // 2, (w - cw) // 2
    if top > 0 or left > 0:
        y0, x0 = max(top, 0), max(left, 0)
        image = image[y0 : y0 + min(h, ch), x0 : x0 + min(w, cw)]
        h, w = image.shape[:2]
    if (w, h) == (cw, ch):
        return np.ascontiguousarray(image)
    out = np.zeros((ch, cw, 3), dtype=image.dtype)
    y, x = (ch - h) // 2, (cw - w) // 2
    out[y : y + h, x : x + w] = image
    return out
