"""Temporal img2img restyle: Stable Diffusion per frame, reusing the previous frame's latent.

Per DESIGN.md "Temporal consistency": the first frame and scene cuts are a plain seeded
img2img. Every other frame is steadied toward a reference: the anchor (last keyframe) latent
warped once along the flow composed since the anchor, or the previous latent warped once where
the anchor is not seen. It starts from its own latent blended with that reference, is noised
with the previous noise warped along the flow (integral noise warping), and in the first steps
its predicted x̂0 is fused with the reference inside a strict, feathered mask
(``fusion.fuse_prediction``); it attends to the keyframe and is colour-anchored to it. Because
it starts from a reused latent it runs at ``reuse_strength`` (fewer UNet calls). A periodic
keyframe that comes with a flow runs at ``strength`` from its own latent but is fused toward the
reference too, so it does not pop, and becomes the next anchor. ``fusion="latent"`` keeps the
0.1 method (previous final latent re-warped and pulled toward).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

import temporal
from vidx.errors import InputError
from vidx.frame import FrameContext
from vidx.options import attention_blocks
from vidx.restyle.diffusion.attention import CrossFrameState, install_cross_frame
from vidx.restyle.diffusion.denoise import (
    Conditioning,
    Pull,
    ResidualNegative,
    UNetCounter,
    decode_latent,
    denoise,
    encode_conditioning,
    encode_image,
    predict_noise,
    renoise,
    schedule,
)
from vidx.restyle.diffusion.fusion import AnchorTrack, X0Fusion, feather_mask, latent_mask
from vidx.restyle.diffusion.loading import load_pipeline, set_scheduler
from vidx.restyle.diffusion.options import DiffusionOptions, work_size_for
from vidx.restyle.diffusion.pixel import PixelMemory, PixelTarget, follow_color
from vidx.restyle.diffusion.reuse import SEED_SCHEDULER, NoiseCarrier
from vidx.restyle.diffusion.similarity import SimilarityFilter, still_cells

MASK_THRESHOLD = 0.75  # a latent cell is reliable when 75% of the pixels under it are
TILING_PIXELS = 1536 * 1536  # VAE tiling above this many working pixels


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``size = (h, w)``: area when shrinking, cubic when enlarging."""
    h, w = size
    if image.shape[:2] == (h, w):
        return np.ascontiguousarray(image)
    shrink = h <= image.shape[0] and w <= image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def check_frame(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"a frame must be an (H, W, 3) uint8 array, got {getattr(image, 'shape', image)}"
        )
    if image.dtype != np.uint8:
        raise InputError(f"a frame must be uint8, got {image.dtype}")
    return image


def latent_flow_mask(
    ctx: FrameContext, size: tuple[int, int], like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ctx.flow``/``ctx.mask`` at latent ``size = (h, w)``: flow ``(1, 2, h, w)`` in latent
    pixels, mask ``(1, 1, h, w)`` float (1 = reliable)."""
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


class DiffusionRestyler:
    """Stable Diffusion img2img over a clip, frame by frame, with temporal reuse.

    ``restyler(image, ctx)`` takes an ``(H, W, 3)`` uint8 frame and returns the restyled frame at
    the working resolution (short side ``options.work_size``, multiples of 8). ``pipe`` may be a
    loaded img2img pipeline to share (tests, benchmarks, the refiner); else it is loaded from
    ``options.model``.
    """

    name = "diffusion"

    def __init__(self, options: DiffusionOptions, pipe=None) -> None:
        self.options = options.check()
        if pipe is None:
            pipe = load_pipeline(
                options.model, options.device, options.dtype, options.allow_pickle, options.vae
            )
        self.pipe = pipe
        set_scheduler(pipe, options.scheduler)
        self.attn: CrossFrameState | None = None
        if options.cross_frame_attn:
            self.attn = install_cross_frame(pipe.unet, attention_blocks(options.cross_frame_blocks))
        if options.compile:
            pipe.unet.compile(dynamic=False)
        self.unet_calls = 0
        self.unet_rows = 0
        self.unet_calls_keyframes = 0
        self._counter = UNetCounter(pipe.unet)
        o = self.options
        self._filter = SimilarityFilter(o.similarity_threshold, o.max_skip, o.seed)
        self._last_output: np.ndarray | None = None
        self.still_cells = 0.0  # rendered frames' worth of latent cells kept as they were
        self.frames = 0
        self.keyframes = 0
        self.anchored_keyframes = 0
        self._track = AnchorTrack()
        self._pixels = PixelMemory()
        self._cond: dict[tuple[int, int], Conditioning] = {}
        self._noise = NoiseCarrier(self.options)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame and keyframe (new clip or segment)."""
        self._prev_latent: torch.Tensor | None = None
        self._prev_noise: torch.Tensor | None = None
        self._key_output: np.ndarray | None = None
        self._last_output = None
        self._noise.reset()
        self._filter.reset()
        self._track.clear()
        self._pixels.clear()
        if self.attn is not None:
            self.attn.clear()

    def _conditioning(self, size: tuple[int, int]) -> Conditioning:
        if size not in self._cond:
            o = self.options
            self._cond[size] = encode_conditioning(
                self.pipe,
                o.prompt,
                o.negative_prompt,
                o.guidance,
                size,
                cfg_with_embedding=o.lcm_cfg,
                mode=o.cfg,
                negative_source=o.cfg_negative,
            )
        return self._cond[size]

    def _predict(self, pipe, latents, t, cond, negative=None):
        self.unet_calls += 1
        return predict_noise(pipe, latents, t, cond, negative)

    def _on_step(self, i: int, t: torch.Tensor) -> None:
        if self.attn is not None:
            self.attn.step = int(t)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        o, pipe = self.options, self.pipe
        image = check_frame(image)
        size = work_size_for(image.shape[0], image.shape[1], o.work_size)
        if size[0] * size[1] > TILING_PIXELS:
            pipe.vae.enable_tiling()
        work = resize_rgb(image, size)
        if self._last_output is not None and self._filter.skip(work, ctx.scene_cut):
            self.frames += 1  # near-identical to the last rendered frame: its output as is
            return self._last_output.copy()
        prior = self._filter.rendered(work)

        # 1. encode the frame; decide what can be reused
        z = encode_image(pipe, work)
        prev_latent = self._prev_latent
        linked = (
            ctx.flow is not None
            and prev_latent is not None
            and self._prev_noise is not None
            and prev_latent.shape == z.shape
        )
        x0_mode = o.fusion == "x0"
        reuse = linked and not ctx.keyframe
        # a periodic keyframe with a flow keeps continuity; only a scene cut starts fresh
        anchored = linked and ctx.keyframe and x0_mode and o.anchor_keyframes and not ctx.scene_cut
        cond = self._conditioning(size)
        lat_size = (z.shape[2], z.shape[3])

        if self.attn is not None:  # a fresh start forgets; a frame tied to the past attends
            if not (reuse or anchored):
                self.attn.clear()
            self.attn.use = reuse or anchored

        # 2. start latent, noise, and what to steady toward (pull or x̂0 fusion)
        pull, fusion, warped = None, None, None
        strength = o.strength
        z_start = z
        if reuse or anchored:
            cell = int(getattr(pipe, "vae_scale_factor", 8))
            warped = self._pixels.warped(ctx, o.mask_open, cell)
        if (reuse or anchored) and prev_latent is not None:
            if x0_mode:
                flow, _ = latent_flow_mask(ctx, lat_size, z)
                hard, _ = latent_mask(
                    ctx.mask, lat_size, z, dilate=o.mask_dilate, feather=0, open_cells=o.mask_open
                )
                self._track.advance(flow, hard)
                ref, reliable = self._track.reference(prev_latent, flow, hard)
                soft = feather_mask(reliable, o.mask_feather)
                noise_mask = hard[0, 0] > 0.5
            else:
                flow, soft = latent_flow_mask(ctx, lat_size, z)
                ref = temporal.warp(prev_latent.float(), flow).to(z.dtype)
                noise_mask = soft[0, 0] > 0.5
            if reuse and o.reuse:
                z_start = temporal.fuse(z, ref, soft, o.latent_blend_weight)
                strength = min(o.reuse_strength, o.strength)
            noise = self._noise.carry(flow, noise_mask, z)
            timesteps = schedule(pipe, o.steps, strength)
            if x0_mode and o.fusion_weight > 0 and o.fusion_steps > 0:
                n_fuse = math.ceil(o.fusion_steps * len(timesteps))
                fusion = X0Fusion(ref, soft * o.fusion_weight, n_fuse)
                if o.pixel_fusion != "off" and o.pixel_fusion_weight > 0 and warped is not None:
                    fusion.refine = PixelTarget(
                        pipe, warped, ref, o.pixel_fusion_weight, o.pixel_fusion == "fidelity"
                    )
            elif not x0_mode and o.pull and o.pull_weight > 0 and o.pull_steps > 0:
                n_pull = math.ceil(o.pull_steps * len(timesteps))
                pull = Pull(ref, noise, soft * o.pull_weight, n_pull)
        else:
            noise = self._noise.start(z)
            timesteps = schedule(pipe, o.steps, strength)

        # 3. denoise from the noised start latent
        calls_before, rows_before = self.unet_calls, self._counter.rows
        latents = renoise(pipe, z_start, noise, timesteps[:1])
        negative = None  # residual guidance: the negative leads back to the start latent
        if cond.residual:
            negative = ResidualNegative(z_start, once=cond.residual == "once")
        step_gen = torch.Generator(device="cpu").manual_seed(o.seed + SEED_SCHEDULER)
        try:
            latents = denoise(
                pipe,
                latents,
                timesteps,
                cond,
                pull=pull,
                fusion=fusion,
                predict=self._predict,
                generator=step_gen,
                on_step=self._on_step,
                negative=negative,
            )
        finally:
            self.unet_rows += self._counter.rows - rows_before
            if self.attn is not None:
                self.attn.end_frame(keyframe=not reuse)

        # 4. still latent cells keep the last rendered latent; decode, anchor colour, keep state
        # (a keyframe becomes the new anchor)
        if prior is not None and prev_latent is not None and prev_latent.shape == latents.shape:
            if not ctx.scene_cut:
                cell = int(getattr(pipe, "vae_scale_factor", 8))
                keep = still_cells(prior, work, cell, latents)
                latents = latents + keep * (prev_latent - latents)
                self.still_cells += float(keep.mean())
        out = decode_latent(pipe, latents)
        if o.color_anchor and o.color_anchor_weight > 0:
            if o.color_match == "follow" and warped is not None:
                out = follow_color(out, warped, work, o.color_anchor_weight)
            elif o.color_match == "keyframe" and reuse and self._key_output is not None:
                out = self._anchor(out, self._key_output)
        self._prev_latent, self._prev_noise = latents, noise
        self._pixels.keep(out, work, keyframe=not reuse)
        self._last_output = out
        self.frames += 1
        if not reuse:
            self._track.set(latents)
            self.keyframes += 1
            self.anchored_keyframes += int(anchored)
            self.unet_calls_keyframes += self.unet_calls - calls_before
            self._key_output = out
        return out

    def _anchor(self, out: np.ndarray, key: np.ndarray) -> np.ndarray:
        if key.shape != out.shape:
            key = resize_rgb(key, out.shape[:2])
        matched = temporal.match_color(out, key)
        w = self.options.color_anchor_weight
        if w >= 1.0:
            return matched
        return temporal.fuse(out, matched, np.ones(out.shape[:2], dtype=bool), w)

    def describe(self) -> dict:
        """Settings and counters: ``unet_calls`` counts UNet forward calls (a guidance batch is
        one call), split into keyframes and the other frames."""
        o = self.options
        other = self.frames - self.keyframes
        return {
            "name": self.name,
            "model": o.model,
            "work_size": o.work_size,
            "strength": o.strength,
            "reuse_strength": o.reuse_strength,
            "steps": o.steps,
            "scheduler": o.scheduler,
            "temporal": {
                "latent_blend": o.latent_blend,
                "warp_noise": o.warp_noise,
                "noise_warp": o.noise_warp,
                "pull": o.pull,
                "fusion": o.fusion,
                "anchor_keyframes": o.anchor_keyframes,
                "cross_frame_attn": o.cross_frame_attn,
                "cross_frame_blocks": o.cross_frame_blocks,
                "color_anchor": o.color_anchor,
                "color_match": o.color_match,
                "pixel_fusion": o.pixel_fusion,
            },
            "cfg": o.cfg if o.cfg != "residual" else f"residual-{o.cfg_negative}",
            "frames": self.frames,
            "skipped_frames": self._filter.skipped,
            "still_cells_frames": self.still_cells,
            "keyframes": self.keyframes,
            "anchored_keyframes": self.anchored_keyframes,
            "unet_calls": self.unet_calls,
            "unet_calls_keyframes": self.unet_calls_keyframes,
            "unet_calls_other": self.unet_calls - self.unet_calls_keyframes,
            "unet_calls_per_frame": self.unet_calls / self.frames if self.frames else 0.0,
            "unet_rows": self.unet_rows,
            "unet_rows_per_frame": self.unet_rows / self.frames if self.frames else 0.0,
            "other_frames": other,
            "attention_store_bytes": self.attn.nbytes() if self.attn is not None else 0,
        }
