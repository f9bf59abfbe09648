"""An interval between two keyframes rendered first (``--passes 2``): shown from both sides.

Rerender-A-Video's full-video step and FlowVid: a shot's keyframes are rendered first, each
tied to the one before (:mod:`vidx.jobs.two_pass`); then every interval is rendered on its
own, going on from the state its first keyframe left. Here, the restyler of one interval is
wrapped so that

1. its first frame (the keyframe itself) is the output the keyframe pass made, not a second
   render (``FromKeyframe``);
2. the later keyframe's output, carried backward along the flow from each frame to that
   keyframe (composed backward of the interval's per-frame flows, each pair checked
   forward-backward, and checked on the source),
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

from temporal.propagate import blurred_luma
from temporal.warp import inside_frame, sample_coords
from vidx.frame import FrameContext
from vidx.options import AnalysisOptions
from vidx.restyle.base import Restyler, Wrapped

TOLERANCE = 0.06  # luma in [0, 1]: the later keyframe's source, warped, must match this well
REPLICATE = cv2.BORDER_REPLICATE
FEATHER_PX = 1.5  # the backward weight is feathered inward by this much (working pixels)


class FromKeyframe(Wrapped):
    """Wraps a restyler whose state is the one a keyframe left (restored from the keyframe
    pass): the first frame it is given is that keyframe, shown as ``image`` (its pass-1
    output); every later frame goes to the restyler."""

    def __init__(self, inner: Restyler, image: np.ndarray) -> None:
        super().__init__(inner)
        self.image: np.ndarray | None = image

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        if self.image is not None:
            shown, self.image = self.image, None
            return shown.copy()
        return self.inner(image, ctx)


@dataclass(frozen=True)
class LaterKeyframe:
    """The keyframe that ends an interval: its job ``index``, its ``source`` frame and the
    ``output`` the keyframe pass made of it; ``first`` is the interval's first frame."""

    first: int
    index: int
    source: np.ndarray
    output: np.ndarray


Flows = dict[int, tuple[np.ndarray, np.ndarray]]  # job frame -> (flow, mask) to the keyframe


def flows_to_last(
    smalls: list[np.ndarray], first: int, analysis: AnalysisOptions, raft: Any
) -> Flows:
    """For each of ``smalls`` but the last (analysis-size frames of job frames ``first, ...``,
    the last being the later keyframe), the flow from it to the last and its reliability,
    composed backward of the per-frame pairs (each forward-backward consistent): as accurate as
    the chain, where a flow straight across the gap is not."""
    import temporal

    a, weights = analysis, raft or analysis.raft_weights
    out: Flows = {}
    flow: np.ndarray | None = None
    mask: np.ndarray | None = None
    for t in range(len(smalls) - 2, -1, -1):
        cur, nxt = smalls[t], smalls[t + 1]
        if cur.shape != nxt.shape:
            break
        ahead = temporal.flow(cur, nxt, a.flow, preset=a.flow_preset, raft_weights=weights)
        back = temporal.flow(nxt, cur, a.flow, preset=a.flow_preset, raft_weights=weights)
        ok = temporal.consistency_mask(ahead, back)
        if flow is None or mask is None:
            flow, mask = ahead, ok
        else:
            flow = ahead + temporal.warp(flow, ahead)
            mask = ok & (temporal.warp(mask.astype(np.float32), ahead) > 0.5)
        out[first + t] = (flow, mask)
    return out


class TwoSided(Wrapped):
    """Wraps an interval's restyler: the later keyframe's output, warped back into each frame
    along ``flows`` (:func:`flows_to_last`) where they are reliable, takes over with the
    distance through the interval (module doc, step 2)."""

    def __init__(self, inner: Restyler, later: LaterKeyframe, flows: Flows) -> None:
        super().__init__(inner)
        self.later = later
        self.flows = flows

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        out = self.inner(image, ctx)
        k = self.later
        d = (ctx.index - k.first) / max(1, k.index - k.first)
        flow = self.flows.get(ctx.index)
        if not 0.0 < d < 1.0 or k.output.shape != out.shape or flow is None:
            return out
        warped, weight = self.backward(image, out.shape[:2], *flow)
        w = (d * weight)[:, :, None]
        mixed = out.astype(np.float32) * (1.0 - w) + warped.astype(np.float32) * w
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

    def backward(
        self, image: np.ndarray, size: tuple[int, int], flow: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The later keyframe's output warped into this frame at ``size = (h, w)`` along
        ``flow`` (to the keyframe, analysis size), and its reliability in ``[0, 1]``
        (``mask``, and the warped source matching this frame's)."""
        import temporal

        xs, ys = sample_coords(temporal.resize_flow(flow, size))
        # resampled once, Lanczos (a bilinear warp blurs what it carries)
        warped = cv2.remap(self.later.output, xs, ys, cv2.INTER_LANCZOS4, borderMode=REPLICATE)
        source = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        key_source = cv2.resize(self.later.source, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        key_warped = cv2.remap(key_source, xs, ys, cv2.INTER_LINEAR, borderMode=REPLICATE)
        agree = np.abs(blurred_luma(source) - blurred_luma(key_warped)) < TOLERANCE
        ok = temporal.resize_mask(mask, size, threshold=0.999) & agree & inside_frame(xs, ys)
        soft = np.asarray(cv2.GaussianBlur(ok.astype(np.float32), (0, 0), FEATHER_PX)) * ok
        return np.asarray(warped), soft.astype(np.float32)
