"""What every upscale backend offers the pipeline."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vidx.frame import FrameContext


class Upscaler(Protocol):
    """Resizes an ``(H, W, 3)`` uint8 frame (or uint16: a source deeper than 8 bits, kept at
    16 bits) to exactly ``size = (width, height)``, returning the same dtype.

    A learned upscaler runs its model at the factor that fits (never upscaling by a model and
    then downscaling by more than needed) and does the remaining step with a high-quality resize.
    ``ctx`` is the frame's temporal context, for upscalers that keep state across frames
    (diffusion refine); stateless ones ignore it.
    """

    name: str

    def __call__(
        self, image: np.ndarray, size: tuple[int, int], ctx: FrameContext | None = None
    ) -> np.ndarray: ...

    def describe(self) -> dict: ...
