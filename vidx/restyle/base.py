"""What every restyle backend offers the pipeline."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from vidx.frame import FrameContext


class Restyler(Protocol):
    """Turns one source frame into its restyled version, keeping its own temporal state.

    ``image`` is ``(H, W, 3)`` uint8; the result is ``(H', W', 3)`` uint8 (a backend may work at
    its own resolution, e.g. a diffusion work size). Frames arrive in order; ``ctx.keyframe``
    means: no reuse of the previous frame. ``reset()`` forgets all state (new clip or segment).
    """

    name: str

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray: ...

    def reset(self) -> None: ...

    def describe(self) -> dict: ...


class Wrapped:
    """A restyler that wraps another (``inner``: the priming, renumbering and two-pass
    wrappers): its ``name``, ``reset`` and ``describe`` are the inner one's, and so is any
    attribute it does not have itself (the backend's own counters, ``unet_calls``, ...)."""

    def __init__(self, inner: Restyler) -> None:
        self.inner = inner
        self.name = inner.name

    def reset(self) -> None:
        self.inner.reset()

    def describe(self) -> dict:
        return self.inner.describe()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class Resizer(Protocol):
    """What the diffusion refine wraps: something that brings an ``(H, W, 3)`` frame to
    ``size = (width, height)`` (an upscaler, structurally; ``restyle`` does not import
    ``upscale``, so the dependency points down from the layer that joins them)."""

    name: str

    def __call__(
        self, image: np.ndarray, size: tuple[int, int], ctx: FrameContext | None = None
    ) -> np.ndarray: ...

    def describe(self) -> dict: ...
