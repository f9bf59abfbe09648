"""One reuse engine for the restyle and the tiled refine: what a frame reuses from the past.

Both ``DiffusionRestyler`` (img2img) and ``DiffusionRefiner`` (tiled detail refine) run each frame
the same way, here:

1. ``mode``: is the frame tied to the past? ``reuse`` (a frame with a flow after a rendered one)
   or ``anchored`` (a periodic keyframe with a flow under x̂0 fusion: re-rendered at full
   strength but fused toward the past; a scene cut starts fresh);
2. ``prepare``: the reference (x̂0 fusion: the anchor latent warped once along the flow composed
   since the anchor, the previous latent warped where the anchor is not seen; ``latent``: the
   previous latent warped), the start latent blended with it, the noise carried along the flow,
   the timesteps, and the x̂0 fusion (or the 0.1 pull) toward the reference;
3. ``denoise``: noise the start latent and run the scheduler with the caller's predictor under
   the engine's own seeded scheduler generator;
4. ``keep``: the final latent becomes the previous one (and the anchor after a fresh render).

The two callers differ only in their seeds (``Seeds``), their strengths and their predictor
(whole latent, or overlapping tiles averaged).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

import temporal
from vidx.frame import FrameContext
from vidx.options import RestyleOptions
from vidx.restyle.diffusion.denoise import (
    Conditioning,
    Keep,
    Pull,
    Steering,
    denoise,
    predict_noise,
    rearm,
    renoise,
    tail_steps,
)
from vidx.restyle.diffusion.denoise import schedule as make_schedule
from vidx.restyle.diffusion.reuse import (
    SEED_FRESH_NOISE,
    SEED_REFINE_FRESH_NOISE,
    SEED_REFINE_SCHEDULER,
    SEED_SCHEDULER,
    NoiseCarrier,
)
from vidx.restyle.diffusion.reuse_mask import feather_mask, latent_mask
from vidx.restyle.diffusion.x0_fusion import AnchorTrack, X0Fusion

MASK_THRESHOLD = 0.75  # ``fusion="latent"``: a cell is reliable when 75% of its pixels are
LATENT_BLEND_WEIGHT = 0.9  # a reused frame's start latent: this much of the warped reference
PULL_WEIGHT = 0.5  # ``fusion="latent"``: how far each early step moves toward the reference


@dataclass(frozen=True)
class Seeds:
    """Offsets from ``options.seed`` of the generators one user of the engine draws from."""

    fresh_noise: int
    scheduler: int


RESTYLE_SEEDS = Seeds(SEED_FRESH_NOISE, SEED_SCHEDULER)
REFINE_SEEDS = Seeds(SEED_REFINE_FRESH_NOISE, SEED_REFINE_SCHEDULER)


@dataclass
class FramePlan:
    """How one frame is denoised: start latent, its noise and timesteps, what steadies it."""

    z_start: torch.Tensor
    noise: torch.Tensor
    timesteps: torch.Tensor
    reuse: bool
    anchored: bool
    pull: Pull | None = None
    x0_fusion: X0Fusion | None = None
    reference: torch.Tensor | None = None
    hold: Keep | None = None  # held cells start at the reuse strength (``prepare``)

    @property
    def tied(self) -> bool:
        """Whether the frame is steadied toward the past (reused or anchored)."""
        return self.reuse or self.anchored


def latent_flow_mask(
    ctx: FrameContext, size: tuple[int, int], like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ctx.flow``/``ctx.mask`` at latent ``size = (h, w)``: flow ``(1, 2, h, w)`` in latent
    pixels, mask ``(1, 1, h, w)`` float (1 = reliable, ``MASK_THRESHOLD`` of a cell's pixels)."""
    if ctx.flow is None:
        raise ValueError("latent_flow_mask needs a context with a flow")
    flow = temporal.resize_flow(ctx.flow.astype(np.float32, copy=False), size)
    f = torch.from_numpy(flow).permute(2, 0, 1)[None].to(like.device, torch.float32)
    if ctx.mask is None:
        m = np.ones(size, dtype=bool)
    else:
        m = temporal.resize_mask(ctx.mask.astype(bool, copy=False), size, threshold=MASK_THRESHOLD)
    mask = torch.from_numpy(np.ascontiguousarray(m)).to(like.device, torch.float32)[None, None]
    return f, mask


def pad_to(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Edge-pad a ``(B, C, h, w)`` tensor at the bottom/right to ``size = (H, W)``."""
    dh, dw = size[0] - x.shape[2], size[1] - x.shape[3]
    if dh == 0 and dw == 0:
        return x
    return torch.nn.functional.pad(x, (0, dw, 0, dh), mode="replicate")


class ReuseEngine:
    """The temporal state of one restyle or refine and the steps that use it (module doc)."""

    def __init__(self, options: RestyleOptions, seeds: Seeds = RESTYLE_SEEDS) -> None:
        """``options`` as the backend runs them (``RestyleOptions.resolved``)."""
        self.options, self.seeds = options, seeds
        self.temporal = options.diffusion_temporal
        self.noise = NoiseCarrier(options, seeds.fresh_noise)
        self.track = AnchorTrack()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame and the anchor (new clip or segment)."""
        self.prev_latent: torch.Tensor | None = None
        self.noise.reset()
        self.track.clear()

    def mode(self, ctx: FrameContext | None, z: torch.Tensor) -> tuple[bool, bool]:
        """``(reuse, anchored)`` for a frame with latent ``z`` and context ``ctx``."""
        t, prev = self.temporal, self.prev_latent
        linked = (
            ctx is not None
            and ctx.flow is not None
            and prev is not None
            and self.noise.noise is not None
            and prev.shape == z.shape
        )
        keyframe = ctx is None or ctx.keyframe
        x0_mode = t.fusion == "x0"
        anchored = (
            linked and keyframe and x0_mode and t.anchor_keyframes and not (ctx and ctx.scene_cut)
        )
        return linked and not keyframe, bool(anchored)

    def masks(
        self, ctx: FrameContext, z: torch.Tensor, size: tuple[int, int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(flow, hard, soft)`` at latent ``size`` (default: ``z``'s), edge-padded to ``z``:
        x̂0 fusion's strict mask (``latent_mask``) or the 0.1 thresholded one."""
        t = self.temporal
        size = size or (z.shape[2], z.shape[3])
        if t.fusion == "x0":
            flow, _ = latent_flow_mask(ctx, size, z)
            hard, _ = latent_mask(
                ctx.mask, size, z, dilate=t.reuse_dilate, feather=0, open_cells=t.reuse_open
            )
            soft = hard
        else:
            flow, hard = latent_flow_mask(ctx, size, z)
            soft = hard
        full = (z.shape[2], z.shape[3])
        return pad_to(flow, full), pad_to(hard, full), pad_to(soft, full)

    def prepare(
        self,
        pipe,
        z: torch.Tensor,
        ctx: FrameContext | None,
        *,
        strength: float,
        reuse_strength: float,
        latent_size: tuple[int, int] | None = None,
        held: torch.Tensor | None = None,
    ) -> FramePlan:
        """Everything the frame's denoising needs (module doc, step 2). ``held`` (``(1, 1, h,
        w)`` float, 1 where the pixel propagation holds the frame, ``held_cells``) limits
        every pull toward the past to what the propagation holds: elsewhere the content is new
        (a subject's trail, what enters), and the frame renders it from its own latent at the
        full ``strength``. The noise is carried along the flow everywhere, the flow's failed
        consistency check included: a subject that changes shape fails it, but its noise still
        travels with it (integral warping keeps it i.i.d., so that costs no detail)."""
        o, t = self.options, self.temporal
        reuse, anchored = self.mode(ctx, z)
        prev = self.prev_latent
        if not (reuse or anchored) or ctx is None or prev is None:
            noise = self.noise.start(z)
            steps = make_schedule(pipe, o.steps, strength)
            return FramePlan(z, noise, steps, False, False)
        flow, hard, soft = self.masks(ctx, z, latent_size)
        if t.fusion == "x0":
            self.track.advance(flow, hard)
            ref, reliable = self.track.reference(prev, flow, hard)
            soft = feather_mask(reliable, t.reuse_feather)
        else:
            ref = temporal.warp(prev.float(), flow).to(z.dtype)
        if held is not None:
            soft, hard = soft * held, hard * (held > 0.5)
        z_start = z
        fresh = held is not None and float(held.min()) < 0.5
        short = strength
        if reuse and t.latent_blend:
            z_start = temporal.fuse(z, ref, soft, LATENT_BLEND_WEIGHT)
            short = min(reuse_strength, strength)
            if not fresh:  # all of it held: a short re-denoise of the past suffices
                strength = short
        noise = self.noise.carry(flow, z)
        steps = make_schedule(pipe, o.steps, strength)
        plan = FramePlan(z_start, noise, steps, reuse, anchored, reference=ref)
        if fresh and held is not None and short < strength:
            # the new content at the full strength; the held cells join where the short
            # re-denoise would start, so they stay as steady as on a frame held whole
            order = int(getattr(pipe.scheduler, "order", 1))
            wait = len(steps) - tail_steps(o.steps, short) * order
            plan.hold = Keep(z_start, noise, held, steps=wait)
        if t.fusion == "x0" and t.fusion_weight > 0 and t.fusion_steps > 0:
            n_fuse = math.ceil(t.fusion_steps * len(steps))
            plan.x0_fusion = X0Fusion(ref, soft * t.fusion_weight, n_fuse)
        elif t.fusion != "x0" and t.pull and PULL_WEIGHT > 0 and t.pull_steps > 0:
            n_pull = math.ceil(t.pull_steps * len(steps))
            plan.pull = Pull(ref, noise, soft * PULL_WEIGHT, n_pull)
        return plan

    def denoise(
        self,
        pipe,
        plan: FramePlan,
        cond: Conditioning,
        predict: Callable = predict_noise,
        steering: Steering | None = None,
    ) -> torch.Tensor:
        """Noise ``plan.z_start`` to its first timestep and denoise it (module doc, step 3),
        steered by the plan's pull or x̂0 fusion and the caller's ``steering`` (a kept region,
        residual guidance's negative, a per-step hook: ``denoise.Steering``)."""
        s = replace(steering or Steering(), pull=plan.pull, x0_fusion=plan.x0_fusion)
        if s.keep is None and plan.hold is not None:
            s = replace(s, keep=plan.hold)
        rearm(pipe, self.options.steps, plan.timesteps)
        latents = renoise(pipe, plan.z_start, plan.noise, plan.timesteps[:1])
        if s.keep is not None:
            latents = s.keep.blend(pipe, latents, plan.timesteps[0])
        gen = torch.Generator(device="cpu").manual_seed(self.options.seed + self.seeds.scheduler)
        return denoise(pipe, latents, plan.timesteps, cond, s, predict=predict, generator=gen)

    def follow(self, ctx: FrameContext) -> None:
        """A frame shown without rendering it: the previous latent, the anchor's composed flow
        and the noise follow ``ctx.flow`` as if that frame had been rendered as the previous
        one warped (the next frame's flow starts from it)."""
        prev = self.prev_latent
        if prev is None or ctx.flow is None:
            return
        flow, hard, _ = self.masks(ctx, prev)
        if self.temporal.fusion == "x0":
            self.track.advance(flow, hard)
        self.prev_latent = temporal.warp(prev.float(), flow).to(prev.dtype)
        if self.noise.noise is not None:
            self.noise.carry(flow, prev)

    def keep(self, latents: torch.Tensor, plan: FramePlan) -> None:
        """The frame's final latent is the previous one now; a frame not reused is the anchor."""
        self.prev_latent = latents
        if not plan.reuse:
            self.track.set(latents)
