"""A learned upscaler made steady over time (``--upscale-temporal``, on by default).

Per-frame upscalers re-invent hair, foliage, grain and HUD text differently on every frame
(shimmer). This wrapper runs the shared stabiliser (``temporal.propagate.Propagator``) at the
output size: where the upscaler's input, carried along the source's flow, still matches (trust
checked on the input, within this pair's own noise floor), the output is the earlier upscale
resampled *once* (Lanczos) along the composed flow (the flow refined at the output size:
``FLOW_PRESET`` DIS on the resized inputs, since the analysis flow's own error, scaled up four
times, re-invents texture by itself); where it changed (motion of its own,
disocclusion, entering content, light) the fresh upscale shows. Nothing is blurred: the detail
is the upscaler's own, either this frame's or an earlier one's moved with the content.

Where the source changed but its structure, carried along the flow, still matches (a
deformation, a light change, grain above the noise floor: the top band of the source
correlates by ``SAME`` with the earlier one's), the fresh upscale is split in two bands
(``_hold_detail``): its low band (a Gaussian of ``BAND`` input pixels, about the source's own
Nyquist frequency) shows, so the change the source shows shows, and the band above it, the
texture the network invents there afresh on every frame, is the previous output's moved along
the flow. Switching those pixels to the fresh upscale whole was most of the shimmer left
(measured: 1-4 % of the frame, 40-98 % of the warping error, 1.5-2.5x Lanczos's there). The
structure check is the test of the flow there (not the analysis mask, which is of another flow
at the input size). Where the source *gained* detail (the
propagation's detail check, ``DETAIL``: motion blur that lifts) and the fresh upscale's detail
band is richer than the held one by that same share (``poorer``), the fresh upscale shows whole,
so held texture does not stay softer than the source now is. Where the source gained detail
but the network draws no more detail there than it held (a mouth opening, an eye turning in
animation: the gain is in the source's own band, which the fresh low band shows), the detail
band stays held: showing the fresh upscale whole there re-invented the texture on every frame
(measured with esrgan on Megamind: 0.3-0.5 % of the frame, 50-76 % of the warping error on
the worst pairs, 4-5x Lanczos's there, as much as the per-frame upscale).

Tiles whose output the propagation holds are not run at all (``temporal.tiles``): the frame is
cut into ``SKIP_TILE`` px tiles of the input; a tile whose output pixels all leave at most
``SKIP_LEVEL`` of their weight to the fresh result takes the previous output warped instead of
a model call. When the tiles to run cover most of the frame (``FULL_SHARE`` of it, context
included), the whole frame runs as without the wrapper. A static shot costs one model run;
the network calls of each frame are counted for the sidecar.

A frame without a flow (the first, a scene cut, a job without analysis) is the per-frame
upscale exactly. 16-bit frames are upscaled per frame (the stabiliser works on 8 bits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

import temporal
from temporal.propagate import Propagator, Step, blurred_luma
from temporal.tiles import Box, output_box, tile_boxes, tiles_to_run
from vidx.frame import FrameContext
from vidx.upscale.tiling import resize
from vidx.upscale.user_model import SpandrelUpscaler

SKIP_TILE = 64  # input pixels per side of a tile that may be skipped
SKIP_LEVEL = 0.02  # a tile runs when some output pixel leaves more than this to its render
FULL_SHARE = 0.6  # tiles to run covering this share of the frame (context included): all run
FLOW_PRESET = "fine"  # the flow refined at the output size (DIS), as the warping error takes it
FLOW_SIDE = 1024  # ... at a long side of at most this many pixels
DETAIL = 0.4  # the propagation's detail check: the source may gain this share of detail energy
BAND = 0.5  # the detail band's cut, a Gaussian of this many *input* pixels (sigma)
SAME = 0.5  # the source's top band correlates at least this well with the earlier one's


@dataclass
class SteadyStats:
    """Frames upscaled, network calls, and how much of them the propagation held."""

    frames: int = 0
    calls: list[int] = field(default_factory=list)
    tiles_run: int = 0
    tiles: int = 0
    held: float = 0.0  # sum over frames of the share held by propagation

    def summary(self) -> dict:
        n = max(self.frames, 1)
        return {
            "frames": self.frames,
            "model_calls": int(sum(self.calls)),
            "model_calls_per_frame": float(np.mean(self.calls)) if self.calls else 0.0,
            "model_calls_max": max(self.calls, default=0),
            "frames_without_model": sum(1 for c in self.calls if c == 0),
            "tiles_run_share": self.tiles_run / self.tiles if self.tiles else 0.0,
            "propagated_share": self.held / n,
        }


def top_band(luma: np.ndarray, sigma: float) -> np.ndarray:
    """``luma`` above a Gaussian of ``sigma``: the detail the structure and band checks read."""
    return luma - np.asarray(cv2.GaussianBlur(luma, (0, 0), sigma))


def same_structure(cur: np.ndarray, earlier: np.ndarray, sigma: float) -> np.ndarray:
    """``(H, W)`` bool: where two lumas' top bands (above a Gaussian of ``sigma``) correlate by
    at least ``SAME`` over a neighbourhood of ``sigma``, i.e. the source changed in its low band
    only (light, shading), not in the structure the network draws its detail from."""

    def local(x: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.GaussianBlur(x, (0, 0), sigma))

    a, b = top_band(cur, sigma), top_band(earlier, sigma)
    both = np.sqrt(local(a * a) * local(b * b)) + 1e-8
    return np.asarray(local(a * b) >= SAME * both)


def band_energy(image: np.ndarray, sigma: float) -> np.ndarray:
    """``(H, W)`` local energy of an ``(H, W, 3)`` uint8 picture's detail band: its luma (in
    [0, 1]) above a Gaussian of ``sigma``, squared and averaged over a Gaussian of ``2 * sigma``
    (the structure check's neighbourhood)."""
    y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    top = top_band(y, sigma)
    return np.asarray(cv2.GaussianBlur(top * top, (0, 0), 2 * sigma))


def poorer(held: np.ndarray, fresh: np.ndarray, sigma: float) -> np.ndarray:
    """``(H, W)`` bool: where ``held``'s detail band (above a Gaussian of ``sigma``) has less
    local energy than ``fresh``'s by more than the ``DETAIL`` share, the detail check's own
    bound (``fresh > (1 + DETAIL) * held``)."""
    return np.asarray(band_energy(fresh, sigma) > (1.0 + DETAIL) * band_energy(held, sigma))


class SteadyUpscaler:
    """``base`` (a learned upscaler) with the stabiliser over it (module doc)."""

    def __init__(self, base: SpandrelUpscaler) -> None:
        self.base = base
        self.name = base.name
        # no mending of the anchors' flows: measured less steady here (temporal.propagate)
        self.propagator = Propagator(detail=DETAIL, mend=False, max_stretch=None)
        self.stats = SteadyStats()

    def start_clip(self) -> None:
        """Forget the earlier frames (a new clip or segment; the pipeline calls it)."""
        self.propagator.reset()

    def __call__(
        self, image: np.ndarray, size: tuple[int, int], ctx: FrameContext | None = None
    ) -> np.ndarray:
        """Upscale ``image`` ``(H, W, 3)`` to ``size = (w, h)``, steady along ``ctx``'s flow."""
        before = self.base.calls
        if ctx is None or image.dtype != np.uint8:
            self.propagator.reset()
            return self._count(self.base(image, size, ctx), before, 0.0)
        # 1. carry the earlier outputs into this frame, at the output size
        source = resize(image, size)
        flow = self._flow(source, ctx)
        step = self.propagator.prepare(source, flow, ctx.mask, ctx.scene_cut)
        # 2. run the tiles the layers do not hold (all of them at a fresh start)
        render = self._render(image, size, step)
        render = self._hold_detail(render, step, size[0] / image.shape[1])
        # 3. the layers over the render; a keyframe makes a new anchor
        out = self.propagator.show(step, render, keyframe=ctx.keyframe)
        return self._count(out, before, step.covered)

    def _flow(self, source: np.ndarray, ctx: FrameContext) -> np.ndarray | None:
        """The flow to the previous frame at the output size: refined there (DIS on the
        resized inputs; the analysis flow, scaled up, is off by its own error times the scale,
        a pixel or more of re-invented texture), else the analysis flow (to be scaled)."""
        prev = self.propagator.prev_source
        if ctx.flow is None or ctx.scene_cut or prev is None or prev.shape != source.shape:
            return ctx.flow
        scale = min(1.0, FLOW_SIDE / max(source.shape[:2]))
        return temporal.flow(source, prev, "dis", preset=FLOW_PRESET, scale=scale)

    def _render(self, image: np.ndarray, size: tuple[int, int], step: Step) -> np.ndarray:
        """The fresh upscale where the frame needs it; the previous output warped elsewhere."""
        in_size = image.shape[:2]
        boxes = tile_boxes(in_size, SKIP_TILE)
        need = tiles_to_run(step.remaining, boxes, in_size, SKIP_LEVEL)
        self.stats.tiles += len(boxes)
        todo = [b for b, n in zip(boxes, need, strict=True) if n]
        context = [self._with_context(b, in_size) for b in todo]
        area = sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in context)
        if step.filler is None or area >= FULL_SHARE * in_size[0] * in_size[1]:
            self.stats.tiles_run += len(boxes)
            return self.base(image, size)
        render = step.filler.copy()
        out_size = (size[1], size[0])
        for box, wide in zip(todo, context, strict=True):
            self.stats.tiles_run += 1
            wy0, wy1, wx0, wx1 = output_box(wide, in_size, out_size)
            tile = self.base(image[wide[0] : wide[1], wide[2] : wide[3]], (wx1 - wx0, wy1 - wy0))
            y0, y1, x0, x1 = output_box(box, in_size, out_size)
            render[y0:y1, x0:x1] = tile[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
        return render

    def _hold_detail(self, render: np.ndarray, step: Step, scale: float) -> np.ndarray:
        """Where the source's structure, carried along the flow, still matches (and, where it
        gained detail, the held detail band is not poorer than the fresh one), the fresh
        upscale's low band with the propagated detail band. The structure check on the flow's
        own result is the test of the flow there, not the analysis mask (a different flow, at
        the input size: it left 1-2 % of the frame to the fresh upscale whole, half or more of
        the warping error with esrgan, measured)."""
        if step.filler is None or step.earlier is None:
            return render
        sigma = BAND * scale
        where = same_structure(blurred_luma(step.source), step.earlier, 2 * sigma)
        if step.gained is not None:
            where &= ~(step.gained & poorer(step.filler, render, sigma))
        fresh = render.astype(np.float32)
        held = step.filler.astype(np.float32)
        low = cv2.GaussianBlur(fresh, (0, 0), sigma) - cv2.GaussianBlur(held, (0, 0), sigma)
        split = held + low
        out = np.where(where[:, :, None], split, fresh)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _with_context(self, box: Box, in_size: tuple[int, int]) -> Box:
        """``box`` grown by the base's tile overlap (its network's context), inside the frame."""
        pad, (h, w) = self.base.overlap, in_size
        y0, y1, x0, x1 = box
        return (max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad))

    def _count(self, out: np.ndarray, before: int, held: float) -> np.ndarray:
        self.stats.frames += 1
        self.stats.calls.append(self.base.calls - before)
        self.stats.held += held
        return out

    def describe(self) -> dict:
        """The base's description, and the stabiliser's counts (``temporal``)."""
        return {**self.base.describe(), "temporal": self.stats.summary()}
