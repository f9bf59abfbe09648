"""An interval between two keyframes rendered first (``--passes 2``): shown from both sides.

Rerender-A-Video's full-video step and FlowVid: a shot's keyframes are rendered first, each
tied to the one before (:mod:`vidx.jobs.two_pass`); then every interval is rendered on its
own, going on from the state its first keyframe left. Here, the restyler of one interval is
wrapped so that

1. its first frame (the keyframe itself) is the output the keyframe pass made, not a second
   render (``FromKeyframe``);
2. the later keyframe's output, carried backward along the flow from each frame to that
   keyframe (one long-range flow pair per frame, checked forward-backward and on the source),
   takes over toward the end of the interval: a frame at distance ``d`` in ``[0, 1)`` through
   the interval shows ``(1 - w) * forward + w * backward`` with ``w = d * reliability``, so the
   last frames lead into the next keyframe and there is no seam there, and content that enters
   the frame during the interval comes from the future keyframe where it is seen (``TwoSided``).

Convention: images ``(H, W, 3)`` uint8; ``ctx.index`` counts frames of the whole job (the
wrapper sits inside :class:`vidx.restyle.priming.Renumbered`); flows at the analysis size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from temporal.warp import inside_frame, sample_coords
from vidx.frame import FrameContext
from vidx.options import AnalysisOptions
from vidx.restyle.base import Restyler

TOLERANCE = 0.06  # luma in [0, 1]: the later keyframe's source, warped, must match this well
REPLICATE = cv2.BORDER_REPLICATE
FEATHER_PX = 1.5  # the backward weight is feathered inward by this much (working pixels)


class FromKeyframe:
    """Wraps a restyler whose state is the one a keyframe left (restored from the keyframe
    pass): the first frame it is given is that keyframe, shown as ``image`` (its pass-1
    output); every later frame goes to the restyler."""

    def __init__(self, inner: Restyler, image: np.ndarray) -> None:
        self.inner = inner
        self.name = inner.name
        self.image: np.ndarray | None = image

    def reset(self) -> None:
        self.inner.reset()

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        if self.image is not None:
            shown, self.image = self.image, None
            return shown.copy()
        return self.inner(image, ctx)

    def describe(self) -> dict:
        return self.inner.describe()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


@dataclass(frozen=True)
class LaterKeyframe:
    """The keyframe that ends an interval: its job ``index``, its ``source`` frame and the
    ``output`` the keyframe pass made of it; ``first`` is the interval's first frame."""

    first: int
    index: int
    source: np.ndarray
    output: np.ndarray


class TwoSided:
    """Wraps an interval's restyler: the later keyframe's output, warped back into each frame
    where the flow to it is reliable, takes over with the distance through the interval
    (module doc, step 2)."""

    def __init__(
        self, inner: Restyler, later: LaterKeyframe, analysis: AnalysisOptions, raft: Any = None
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.later = later
        self.analysis = analysis
        self.raft = raft
        self._key_small = _small(later.source, analysis.analysis_size)

    def reset(self) -> None:
        self.inner.reset()

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        out = self.inner(image, ctx)
        k = self.later
        d = (ctx.index - k.first) / max(1, k.index - k.first)
        if not 0.0 < d < 1.0 or k.output.shape != out.shape:
            return out
        warped, weight = self.backward(image, out.shape[:2])
        w = (d * weight)[:, :, None]
        mixed = out.astype(np.float32) * (1.0 - w) + warped.astype(np.float32) * w
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

    def backward(self, image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The later keyframe's output warped into this frame at ``size = (h, w)``, and its
        reliability in ``[0, 1]`` (forward-backward consistent, the warped source matching)."""
        import temporal

        a = self.analysis
        small = _small(image, a.analysis_size)
        key = self._key_small
        if small.shape != key.shape:
            return np.zeros((*size, 3), np.uint8), np.zeros(size, np.float32)
        weights = self.raft or a.raft_weights
        back = temporal.flow(small, key, a.flow, preset=a.flow_preset, raft_weights=weights)
        fwd = temporal.flow(key, small, a.flow, preset=a.flow_preset, raft_weights=weights)
        mask = temporal.consistency_mask(back, fwd)
        xs, ys = sample_coords(temporal.resize_flow(back, size))
        # resampled once, Lanczos (a bilinear warp blurs what it carries)
        warped = cv2.remap(self.later.output, xs, ys, cv2.INTER_LANCZOS4, borderMode=REPLICATE)
        source = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        key_source = cv2.resize(self.later.source, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        key_warped = cv2.remap(key_source, xs, ys, cv2.INTER_LINEAR, borderMode=REPLICATE)
        agree = np.abs(_luma(source) - _luma(key_warped)) < TOLERANCE
        ok = temporal.resize_mask(mask, size, threshold=0.999) & agree & inside_frame(xs, ys)
        soft = np.asarray(cv2.GaussianBlur(ok.astype(np.float32), (0, 0), FEATHER_PX)) * ok
        return np.asarray(warped), soft.astype(np.float32)

    def describe(self) -> dict:
        return self.inner.describe()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def _small(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """``rgb`` at most ``long_side`` on its long side, as the analyzer sees it
    (``vidx.analysis.analysis_frame``, a layer above this one)."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def _luma(image: np.ndarray) -> np.ndarray:
    y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return np.asarray(cv2.GaussianBlur(y, (0, 0), 1.0))
