"""Before/after videos: the source and the result together, labelled (``--compare``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidx.errors import OptionError
from vidx.upscale.classic import resize

MODES = ("side", "split", "stack")
PANEL_LONG_SIDE = 1920


def check_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in MODES:
        raise OptionError(f"must be one of {', '.join(MODES)}, got {mode!r}", param="compare")
    return mode


def compare_path(output: Path) -> Path:
    """``out.mp4`` -> ``out.compare.mp4``."""
    return output.with_name(f"{output.stem}.compare{output.suffix}")


def _even(n: int) -> int:
    return max(2, n - n % 2)


def panel_size(canvas: tuple[int, int]) -> tuple[int, int]:
    """The output canvas scaled so its long side is at most 1920 px (even dimensions)."""
    w, h = canvas
    scale = min(1.0, PANEL_LONG_SIDE / max(w, h))
    return _even(round(w * scale)), _even(round(h * scale))


def compare_canvas(canvas: tuple[int, int], mode: str) -> tuple[int, int]:
    w, h = panel_size(canvas)
    return {"side": (2 * w, h), "stack": (w, 2 * h), "split": (w, h)}[mode]


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Letterbox ``image`` into ``size`` (w, h) keeping its aspect ratio."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    small = resize(image, (nw, nh))
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out


def _label(image: np.ndarray, text: str, x: int) -> None:
    scale = max(0.4, image.shape[0] / 720)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(4, th // 2)
    cv2.rectangle(image, (x, 0), (x + tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(
        image,
        text,
        (x + pad, th + pad),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thick,
        cv2.LINE_AA,
    )


def compose(
    source: np.ndarray, result: np.ndarray, mode: str, canvas: tuple[int, int]
) -> np.ndarray:
    """One compare frame: ``side`` (source left, result right), ``stack`` (source on top) or
    ``split`` (left half source, right half result, with a divider). ``canvas`` is the
    result's canvas; the compare frame is :func:`compare_canvas` of it."""
    pw, ph = panel_size(canvas)
    src, res = _fit(source, (pw, ph)), _fit(result, (pw, ph))
    if mode == "side":
        frame = np.concatenate([src, res], axis=1)
        _label(frame, "source", 0)
        _label(frame, "result", pw)
    elif mode == "stack":
        frame = np.concatenate([src, res], axis=0)
        _label(frame, "source", 0)
        _label(frame[ph:], "result", 0)
    else:
        frame = res.copy()
        half = pw // 2
        frame[:, :half] = src[:, :half]
        frame[:, max(0, half - 1) : half + 1] = 255
        _label(frame, "source", 0)
        _label(frame, "result", half + 2)
    return np.ascontiguousarray(frame)
