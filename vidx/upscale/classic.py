"""Classical resamplers (no model): Lanczos and bicubic via OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

from vidx.frame import FrameContext

INTERPOLATION = {"lanczos": cv2.INTER_LANCZOS4, "bicubic": cv2.INTER_CUBIC}


def resize(image: np.ndarray, size: tuple[int, int], method: str = "lanczos") -> np.ndarray:
    """Resize ``(H, W, C)`` to ``size = (w, h)``; shrinking always uses INTER_AREA (no aliasing)."""
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    if size[0] <= w and size[1] <= h:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=INTERPOLATION[method])


class ClassicUpscaler:
    """``--upscaler lanczos|bicubic``."""

    def __init__(self, method: str = "lanczos") -> None:
        if method not in INTERPOLATION:
            raise ValueError(f"method must be one of {', '.join(INTERPOLATION)}, got {method!r}")
        self.name = method

    def __call__(
        self, image: np.ndarray, size: tuple[int, int], ctx: FrameContext | None = None
    ) -> np.ndarray:
        return resize(image, size, self.name)

    def describe(self) -> dict:
        return {"name": self.name, "kind": "classical"}
