"""Pixel-space propagation: what the anchors still see is shown as they rendered it.

Rerender-A-Video's full-video step (keyframes are rendered, the frames between are carried
from them in pixel space), done with the job's own flow. Why not only in the latent: on the
VAE a warped latent does not decode to the warped picture, a re-denoise regenerates texture
however it is steered, and repeated bilinear warps are an exponential blur (issue 11's
measurements: steadiness bought by blur). So each output pixel is, in this order:

1. the oldest anchor (keyframe output) that still sees it, resampled *once* (Lanczos) along
   the flow composed since that anchor, with the source's brightness change since then
   applied (a per-channel gain and offset fitted on the source: a fade stays a fade);
2. else, between keyframes, the previous output warped once, where this pair's flow is
   reliable;
3. else the frame's own diffusion render (disocclusions, content entering the frame).

So content that entered since the last keyframe (rendered then at the lower reuse strength and
carried by step 2) is rendered again, fully, by the next keyframe, which then holds it as an
anchor: no part of the picture stays lightly restyled for good.

Trust is checked on the *source* frames, not inherited: an anchor pixel is used where the
anchor's source, warped the same way, matches the current source (after the fitted
gain/offset) within a tolerance taken from this pair's own residual (``TOLERANCE_FACTOR`` times
its 95th percentile, at least ``TOLERANCE_MIN``), so grain does not disqualify everything and a
moving object, an occlusion or a local light change falls back to a later anchor or the render.
Masks lose specks, shrink by ``SHRINK_PX`` and are feathered inward by ``FEATHER_PX``.

A keyframe's composite becomes a new anchor (the old ones keep the pixels they see); a scene
cut or a frame without a flow starts over. At most ``MAX_ANCHORS`` are kept, and one that
sees less than ``MIN_COVERAGE`` of the frame is dropped.

Convention: images ``(H, W, 3)`` uint8 at the working size; flows ``(H, W, 2)`` from the
current frame to the earlier one, in working pixels; masks ``(H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

import temporal
from vidx.frame import FrameContext
from vidx.restyle.diffusion.fusion import remove_specks

TOLERANCE_MIN = 0.03  # luma in [0, 1], after a sigma-1 blur
TOLERANCE_FACTOR = 2.0
SHRINK_PX = 2
FEATHER_PX = 1.5
SPECK_PX = 3.0
MAX_ANCHORS = 8
MIN_COVERAGE = 0.005
MAX_GAIN = 2.0
FADE_FRAMES = 8


def compose(
    layers: list[tuple[np.ndarray, np.ndarray, float]],
    chain: tuple[np.ndarray, np.ndarray] | None,
    render: np.ndarray,
) -> tuple[np.ndarray, float]:
    """``(picture, covered share)``: each anchor layer ``(weight, picture, fade)`` in turn
    takes its share of what is left (times ``fade``), then ``chain`` ``(weight, picture)``,
    then the fading layers the rest of theirs, then ``render`` whatever remains."""
    remaining = np.ones(render.shape[:2], np.float32)
    shown = np.zeros(render.shape, np.float32)

    def take(weight: np.ndarray, picture: np.ndarray) -> None:
        nonlocal remaining, shown
        w = weight * remaining
        shown += w[:, :, None] * picture
        remaining = remaining - w

    for weight, picture, fade in layers:
        take(weight * fade, picture)
    if chain is not None:
        take(*chain)
    for weight, picture, fade in layers:
        if fade < 1.0:
            take(weight, picture)
    shown += remaining[:, :, None] * render.astype(np.float32)
    picture = np.clip(np.rint(shown), 0, 255).astype(np.uint8)
    return picture, float(1.0 - remaining.mean())


@dataclass
class Anchor:
    """A keyframe's output and source, and the flow from the current frame to it."""

    output: np.ndarray
    source: np.ndarray
    flow: np.ndarray
    age: int = 0  # frames since it was made (it fades in over FADE_FRAMES)


def blurred_luma(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(H, W)`` float32 luma in [0, 1], Gaussian sigma 1."""
    y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return np.asarray(cv2.GaussianBlur(y, (0, 0), 1.0))


def sample(image: np.ndarray, flow: np.ndarray, interpolation: int) -> np.ndarray:
    """``out[p] = image[p + flow[p]]`` with ``interpolation``, border replicated."""
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[:, :, 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[:, :, 1]
    return np.asarray(cv2.remap(image, xs, ys, interpolation, borderMode=cv2.BORDER_REPLICATE))


def lands_inside(flow: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: ``p + flow[p]`` is inside the frame."""
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[:, :, 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[:, :, 1]
    return (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)


def gain_offset(
    earlier: np.ndarray, current: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(gain, offset)`` with ``current ~ gain * earlier + offset`` on ``mask``:
    means and standard deviations matched, gain clamped to [1 / MAX_GAIN, MAX_GAIN]; identity
    on too few pixels. (Not least squares: a slightly misaligned warp decorrelates the two and
    would shrink a regression's gain, i.e. fade the propagated contrast.)"""
    c = earlier.shape[2]
    if int(mask.sum()) < 16:
        return np.ones(c, np.float32), np.zeros(c, np.float32)
    x = earlier[mask].astype(np.float32)
    y = current[mask].astype(np.float32)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    sx, sy = x.std(axis=0), y.std(axis=0)
    gain = np.where(sx > 1e-3, sy / np.maximum(sx, 1e-3), 1.0)
    gain = np.clip(gain, 1.0 / MAX_GAIN, MAX_GAIN).astype(np.float32)
    return gain, (my - gain * mx).astype(np.float32)


def soften(ok: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool trust -> float weight: specks removed, shrunk, feathered inward."""
    ok = remove_specks(ok, SPECK_PX)
    if SHRINK_PX > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SHRINK_PX + 1,) * 2)
        ok = cv2.erode(ok.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0
    hard = ok.astype(np.float32)
    soft = np.asarray(cv2.GaussianBlur(hard, (0, 0), FEATHER_PX)) * hard
    return soft.astype(np.float32)


class Propagator:
    """The anchors and the previous frame, and the per-frame composite (module doc)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.anchors: list[Anchor] = []
        self.prev_output: np.ndarray | None = None
        self.prev_source: np.ndarray | None = None
        self.coverage = 0.0  # share of the last frame shown from an anchor or the previous one
        self.from_anchors = 0.0  # the part of it from an anchor

    def __call__(
        self, render: np.ndarray, source: np.ndarray, ctx: FrameContext, keyframe: bool
    ) -> np.ndarray:
        """The frame to show for ``render`` (the frame's own output) of ``source`` (its working
        image); remembers it, and makes it an anchor on a ``keyframe``."""
        prev, prev_src = self.prev_output, self.prev_source
        fits = prev is not None and prev.shape == render.shape and source.shape == render.shape
        if ctx.flow is None or ctx.scene_cut or not fits or prev is None or prev_src is None:
            self.reset()  # a fresh start: its render is the anchor at once (nothing to fade)
            return self._remember(render, source, anchor=render, age=FADE_FRAMES)
        size = render.shape[:2]
        flow = temporal.resize_flow(ctx.flow.astype(np.float32, copy=False), size)
        reliable = np.ones(size, bool)
        if ctx.mask is not None:
            reliable = temporal.resize_mask(ctx.mask.astype(bool), size, threshold=0.999)
        cur = blurred_luma(source)
        pair = np.abs(cur - blurred_luma(temporal.warp(prev_src, flow)))
        floor = float(np.quantile(pair[reliable], 0.95)) if reliable.any() else 0.0
        tolerance = max(TOLERANCE_MIN, TOLERANCE_FACTOR * floor)

        layers: list[tuple[np.ndarray, np.ndarray, float]] = []
        kept: list[Anchor] = []
        for a in self.anchors:  # oldest first: each pixel resampled once, from the oldest
            a.flow = flow + temporal.warp(a.flow, flow)
            a.age += 1
            inside = lands_inside(a.flow)
            src = sample(a.source, a.flow, cv2.INTER_LINEAR)
            gain, offset = gain_offset(src, source, inside)
            fitted = np.clip(src.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
            ok = inside & (np.abs(cur - blurred_luma(fitted)) < tolerance)
            if ok.mean() < MIN_COVERAGE:
                continue
            kept.append(a)
            out = sample(a.output, a.flow, cv2.INTER_LANCZOS4).astype(np.float32)
            layers.append((soften(ok), out * gain + offset, min(1.0, a.age / FADE_FRAMES)))
        self.anchors = kept
        # the previous output where this pair's flow is reliable
        ok = reliable & lands_inside(flow) & (pair < tolerance)
        chain = (soften(ok), sample(prev, flow, cv2.INTER_LANCZOS4).astype(np.float32))
        shown, self.coverage = compose(layers, chain, render)
        self.from_anchors = compose(layers, None, render)[1]
        anchor = None
        if keyframe:  # the anchor: what the anchors see, the keyframe's own render elsewhere
            anchor = compose([(m, o, 1.0) for m, o, _ in layers], None, render)[0]
        return self._remember(shown, source, anchor=anchor)

    def _remember(
        self, shown: np.ndarray, source: np.ndarray, *, anchor: np.ndarray | None, age: int = 0
    ) -> np.ndarray:
        self.prev_output, self.prev_source = shown, source
        if anchor is not None:
            h, w = shown.shape[:2]
            flow = np.zeros((h, w, 2), np.float32)
            self.anchors.append(Anchor(anchor, source, flow, age))
            del self.anchors[:-MAX_ANCHORS]
        return shown
