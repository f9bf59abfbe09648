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
0.1 method (previous final latent re-warped and pulled toward). What a frame reuses and how it is
denoised is ``engine.ReuseEngine``, which the tiled refine shares.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

import temporal
from vidx.errors import InputError, OptionError
from vidx.frame import FrameContext
from vidx.options import DeviceOptions, RestyleOptions, attention_blocks, parse_lora
from vidx.prompt_schedule import parse_schedule, prompt_at, resolve, transition_frames
from vidx.restyle.diffusion.adapters import (
    apply_loras,
    file_sha256,
    image_embeds,
    load_ip_adapter,
    load_loras,
)
from vidx.restyle.diffusion.attention import CrossFrameState, install_cross_frame
from vidx.restyle.diffusion.control import make_guide
from vidx.restyle.diffusion.denoise import (
    Conditioning,
    Keep,
    ResidualNegative,
    UNetCounter,
    decode_latent,
    encode_conditioning,
    encode_image,
    predict_noise,
)
from vidx.restyle.diffusion.engine import RESTYLE_SEEDS, ReuseEngine, latent_flow_mask
from vidx.restyle.diffusion.loading import load_pipeline, set_scheduler
from vidx.restyle.diffusion.pixel import PixelMemory, PixelTarget, follow_color
from vidx.restyle.diffusion.prompts import blend
from vidx.restyle.diffusion.propagate import Propagator, Step
from vidx.restyle.diffusion.similarity import SimilarityFilter, still_cells

__all__ = ["DiffusionRestyler", "check_frame", "latent_flow_mask", "resize_rgb", "work_size_for"]

TILING_PIXELS = 1536 * 1536  # VAE tiling above this many working pixels
COLOR_ANCHOR_WEIGHT = 1.0  # how much of the colour statistics a frame takes from the past


def work_size_for(height: int, width: int, work_size: int, multiple: int = 8) -> tuple[int, int]:
    """Working resolution ``(h, w)``: short side ``work_size``, aspect kept, both multiples of
    ``multiple`` (at least ``multiple``)."""
    short = min(height, width)
    scale = work_size / short

    def snap(n: float) -> int:
        return max(multiple, int(round(n / multiple)) * multiple)

    return snap(height * scale), snap(width * scale)


def diffusion_options(restyle: RestyleOptions) -> RestyleOptions:
    """``restyle`` as the diffusion backend runs it (``RestyleOptions.resolved``); an
    OptionError when it does not ask for diffusion."""
    if restyle.backend != "diffusion":
        raise OptionError("is required for the diffusion restyle", param="prompt")
    return restyle.resolved()


def prompt_keys(o: RestyleOptions) -> list[tuple[int, str]]:
    """The prompt schedule as ``[(frame, prompt)]`` from frame 0 (just the prompt when there is
    none); keys must be in frames here (the job's plan converts seconds)."""
    if o.prompt_schedule is None:
        return [(0, o.prompt or "")]
    return resolve(parse_schedule(o.prompt_schedule), None, o.prompt or None)


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``size = (h, w)``: area when shrinking, cubic when enlarging."""
    h, w = size
    if image.shape[:2] == (h, w):
        return np.ascontiguousarray(image)
    shrink = h <= image.shape[0] and w <= image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def read_picture(path: str | None) -> np.ndarray:
    """The IP-Adapter's style picture as ``(H, W, 3)`` uint8 RGB."""
    from PIL import Image

    try:
        with Image.open(str(path)) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InputError(f"style_image {path} cannot be read: {exc}") from None


def check_frame(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"a frame must be an (H, W, 3) uint8 array, got {getattr(image, 'shape', image)}"
        )
    if image.dtype != np.uint8:
        raise InputError(f"a frame must be uint8, got {image.dtype}")
    return image


def latent_keep(region: np.ndarray, size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """``ctx.region`` (1 = restyle) as the latent keep mask ``(1, 1, h, w)`` float at latent
    ``size = (h, w)``: 1 where a latent cell is kept, fractions (area average) at the edge."""
    h, w = size
    cells = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    keep = torch.from_numpy(1.0 - np.clip(cells, 0.0, 1.0))
    return keep.to(like.device, torch.float32)[None, None]


class DiffusionRestyler:
    """Stable Diffusion img2img over a clip, frame by frame, with temporal reuse.

    ``restyler(image, ctx)`` takes an ``(H, W, 3)`` uint8 frame and returns the restyled frame at
    the working resolution (short side ``work_size``, multiples of 8). It takes the restyle's
    option groups as they are declared (``vidx.options.RestyleOptions`` with its
    ``diffusion_temporal`` and ``diffusion_control`` groups, and ``DeviceOptions``) and runs
    them as ``RestyleOptions.resolved`` says. ``pipe`` may be a loaded img2img pipeline to
    share (tests, benchmarks, the refiner); else it is loaded from ``model``.
    """

    name = "diffusion"

    def __init__(
        self, restyle: RestyleOptions, device: DeviceOptions = DeviceOptions(), pipe=None
    ) -> None:
        self.options = o = diffusion_options(restyle)
        t = self.temporal = o.diffusion_temporal
        if pipe is None:
            vae = o.vae or ""
            pipe = load_pipeline(
                o.model or "", device.device, device.dtype, device.allow_pickle, vae
            )
        self.pipe = pipe
        set_scheduler(pipe, o.scheduler)
        if o.ip_adapter:  # before cross-frame attention: it rebuilds every processor
            load_ip_adapter(pipe, o.ip_adapter)
        self.loras = load_loras(pipe, tuple(parse_lora(text) for text in o.lora))
        self._keys = prompt_keys(o)
        self._transition = transition_frames(o.prompt_transition, None)
        self._style = read_picture(o.style_image) if o.ip_adapter else None
        self.attn: CrossFrameState | None = None
        if t.cross_frame_attn:
            self.attn = install_cross_frame(pipe.unet, attention_blocks(t.cross_frame_blocks))
        self.control = make_guide(o.diffusion_control, pipe, device.allow_pickle)
        if o.compile:
            pipe.unet.compile(dynamic=False)
        self.unet_calls = 0
        self.unet_rows = 0
        self.unet_calls_keyframes = 0
        self._counter = UNetCounter(pipe.unet)
        self._filter = SimilarityFilter(t.similarity_threshold, t.max_skip, o.seed)
        self._last_output: np.ndarray | None = None
        self.propagated = 0.0  # frames' worth of pixels not taken from the frame's own render
        self.still_cells = 0.0  # rendered frames' worth of latent cells kept as they were
        self.covered_frames = 0  # frames shown from propagation alone (``skip_covered``)
        self.filled_max = 0.0  # the largest share of such a frame filled in, not rendered
        self.frames = 0
        self.keyframes = 0
        self.anchored_keyframes = 0
        self._engine = ReuseEngine(self.options, RESTYLE_SEEDS)
        self._pixels = PixelMemory()
        self._propagator = Propagator()
        self._cond: dict[tuple[tuple[int, int], str], Conditioning] = {}
        self._style_embeds: dict[bool, list[torch.Tensor]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame and keyframe (new clip or segment)."""
        self._key_output: np.ndarray | None = None
        self._last_output = None
        self._covered_run = 0
        self._filter.reset()
        self._engine.reset()
        self._pixels.clear()
        self._propagator.reset()
        if self.attn is not None:
            self.attn.clear()
        if self.control is not None:
            self.control.reset()

    def _encoded(self, size: tuple[int, int], prompt: str) -> Conditioning:
        """One prompt's conditioning, encoded once per working size (and IP-Adapter image)."""
        if (size, prompt) not in self._cond:
            o = self.options
            cond = encode_conditioning(
                self.pipe,
                prompt,
                o.negative_prompt,
                o.guidance,
                size,
                cfg_with_embedding=o.diffusion_temporal.lcm_cfg,
                mode=o.cfg,
                negative_source=o.cfg_negative,
            )
            if self._style is not None:
                cond.added = {**(cond.added or {}), "image_embeds": self._image_embeds(cond.cfg)}
            cond.control = self.control
            self._cond[(size, prompt)] = cond
        return self._cond[(size, prompt)]

    def _image_embeds(self, cfg: bool) -> list[torch.Tensor]:
        if cfg not in self._style_embeds and self._style is not None:
            self._style_embeds[cfg] = image_embeds(self.pipe, self._style, cfg)
        return self._style_embeds[cfg]

    def _conditioning(self, size: tuple[int, int], index: int = 0) -> Conditioning:
        """Frame ``index``'s conditioning: its scheduled prompt, blended in a transition."""
        o = self.options
        before, after, w = prompt_at(index, self._keys, self._transition)
        if w >= 1:
            return self._encoded(size, after)
        a, b = self._encoded(size, before), self._encoded(size, after)
        return blend(a, b, w, o.prompt_interpolation)

    def _activate(self) -> None:
        """This restyler's LoRA weights and IP-Adapter scale on the (maybe shared) pipeline."""
        apply_loras(self.pipe, self.loras)
        if self._style is not None:
            self.pipe.set_ip_adapter_scale(self.options.ip_adapter_scale)

    def _predict(self, pipe, latents, t, cond, negative=None):
        self.unet_calls += 1
        return predict_noise(pipe, latents, t, cond, negative)

    def _on_step(self, i: int, t: torch.Tensor) -> None:
        if self.attn is not None:
            self.attn.step = int(t)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        o, t, pipe = self.options, self.temporal, self.pipe
        image = check_frame(image)
        if ctx.scene_cut:  # a new shot starts over: nothing before the cut is reused and the
            self.reset()  # generators restart, so a segment may start fresh at a cut
        self._activate()
        size = work_size_for(image.shape[0], image.shape[1], o.work_size or 0)
        if size[0] * size[1] > TILING_PIXELS:
            pipe.vae.enable_tiling()
        work = resize_rgb(image, size)
        step = self._propagator.prepare(work, ctx) if t.propagate else None
        if self._last_output is not None and self._filter.skip(work, ctx.scene_cut):
            # near-identical to the last rendered frame, not rendered: with propagation the
            # frame it carries (its layers stay in step with the flow), else the last output
            if step is not None and step.shown is not None:
                return self._fill(step, work, ctx)
            self.frames += 1
            return self._last_output.copy()
        if step is not None and self._covered(step, ctx):
            self._covered_run += 1
            self.covered_frames += 1
            self.filled_max = max(self.filled_max, 1.0 - step.covered)
            return self._fill(step, work, ctx)
        self._covered_run = 0
        prior = self._filter.rendered(work)
        if self.control is not None:  # structure from the source frame, at the working size
            self.control.set_frame(work)

        # 1. encode the frame; the engine decides what it reuses and steadies it (engine.py)
        z = encode_image(pipe, work)
        prev_latent = self._engine.prev_latent
        plan = self._engine.prepare(
            pipe, z, ctx, strength=o.strength or 0.0, reuse_strength=t.reuse_strength
        )
        reuse, anchored = plan.reuse, plan.anchored
        cond = self._conditioning(size, ctx.index)

        if self.attn is not None:  # a fresh start forgets; a frame tied to the past attends
            if not plan.tied:
                self.attn.clear()
            self.attn.use = plan.tied

        # 2. pixel-aware fusion: the previous output warped in pixel space, re-encoded
        warped = None
        if plan.tied:
            cell = int(getattr(pipe, "vae_scale_factor", 8))
            warped = self._pixels.warped(ctx, t.reuse_open, cell)
        pixel_on = t.pixel_fusion != "off" and t.pixel_fusion_weight > 0
        if plan.fusion is not None and pixel_on and warped is not None:
            plan.fusion.refine = PixelTarget(
                pipe,
                warped,
                plan.fusion.target,
                t.pixel_fusion_weight,
                t.pixel_fusion == "fidelity",
            )

        # 3. denoise from the noised start latent (a kept region stays the source's latent)
        calls_before, rows_before = self.unet_calls, self._counter.rows
        keep = None
        if ctx.region is not None:
            lat_size = (z.shape[2], z.shape[3])
            keep = Keep(z, plan.noise, latent_keep(ctx.region, lat_size, z))
        negative = None  # residual guidance: the negative leads back to the start latent
        if cond.residual:
            negative = ResidualNegative(plan.z_start, once=cond.residual == "once")
        try:
            latents = self._engine.denoise(
                pipe,
                plan,
                cond,
                predict=self._predict,
                on_step=self._on_step,
                keep=keep,
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
                still = still_cells(prior, work, cell, latents)
                latents = latents + still * (prev_latent - latents)
                self.still_cells += float(still.mean())
        out = decode_latent(pipe, latents)
        if t.color_anchor and COLOR_ANCHOR_WEIGHT > 0:
            if t.color_match == "follow" and warped is not None:
                out = follow_color(out, warped, work, COLOR_ANCHOR_WEIGHT)
            elif t.color_match == "keyframe" and reuse and self._key_output is not None:
                out = self._anchor(out, self._key_output)
        if step is not None:  # what the anchors still see is shown as they rendered it
            out = self._propagator.show(step, out, keyframe=not reuse)
            self.propagated += self._propagator.coverage
        self._engine.keep(latents, plan)
        self._pixels.keep(out, work, keyframe=not reuse)
        self._last_output = out
        self.frames += 1
        if not reuse:
            self.keyframes += 1
            self.anchored_keyframes += int(anchored)
            self.unet_calls_keyframes += self.unet_calls - calls_before
            self._key_output = out
        return out

    def _covered(self, step: Step, ctx: FrameContext) -> bool:
        """Whether a frame between keyframes is held enough by propagation to skip rendering
        (at most ``max_skip`` in a row; never a keyframe, a cut, or without a flow)."""
        t = self.temporal
        if t.skip_covered <= 0 or ctx.keyframe or ctx.scene_cut or ctx.flow is None:
            return False
        if self._engine.prev_latent is None or self._covered_run >= t.max_skip:
            return False
        return step.covered >= t.skip_covered

    def _fill(self, step: Step, work: np.ndarray, ctx: FrameContext) -> np.ndarray:
        """A frame shown from propagation alone (it holds the frame, or the similarity filter
        skips it); the state follows the flow."""
        out = self._propagator.fill(step)
        self._engine.follow(ctx)
        cell = int(getattr(self.pipe, "vae_scale_factor", 8))
        self._pixels.follow(ctx, self.temporal.reuse_open, cell)
        self._pixels.keep(out, work, keyframe=False)
        self._last_output = out
        self.propagated += 1.0
        self.frames += 1
        return out

    def _anchor(self, out: np.ndarray, key: np.ndarray) -> np.ndarray:
        if key.shape != out.shape:
            key = resize_rgb(key, out.shape[:2])
        matched = temporal.match_color(out, key)
        w = COLOR_ANCHOR_WEIGHT
        if w >= 1.0:
            return matched
        return temporal.fuse(out, matched, np.ones(out.shape[:2], dtype=bool), w)

    def describe(self) -> dict:
        """Settings and counters: ``unet_calls`` counts UNet forward calls (a guidance batch is
        one call), split into keyframes and the other frames."""
        o, t = self.options, self.temporal
        other = self.frames - self.keyframes
        return {
            "name": self.name,
            "model": o.model,
            "work_size": o.work_size,
            "strength": o.strength,
            "reuse_strength": t.reuse_strength,
            "steps": o.steps,
            "scheduler": o.scheduler,
            "temporal": {
                "latent_blend": t.latent_blend,
                "warp_noise": t.warp_noise,
                "noise_warp": t.noise_warp,
                "pull": t.pull,
                "fusion": t.fusion,
                "anchor_keyframes": t.anchor_keyframes,
                "cross_frame_attn": t.cross_frame_attn,
                "cross_frame_blocks": t.cross_frame_blocks,
                "color_anchor": t.color_anchor,
                "color_match": t.color_match,
                "pixel_fusion": t.pixel_fusion,
                "propagate": t.propagate,
                "skip_covered": t.skip_covered,
            },
            "cfg": o.cfg if o.cfg != "residual" else f"residual-{o.cfg_negative}",
            "frames": self.frames,
            "skipped_frames": self._filter.skipped,
            "covered_frames": self.covered_frames,
            "filled_share_max": self.filled_max,
            "still_cells_frames": self.still_cells,
            "propagated_share": self.propagated / self.frames if self.frames else 0.0,
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
            "control": self.control.describe() if self.control is not None else None,
            "lora": [{k: r[k] for k in ("path", "weight", "sha256")} for r in self.loras],
            "prompt_schedule": [{"frame": f, "prompt": p} for f, p in self._keys],
            "ip_adapter": self._ip_record(),
        }

    def _ip_record(self) -> dict | None:
        o = self.options
        if o.ip_adapter is None:
            return None
        return {
            "path": o.ip_adapter,
            "sha256": file_sha256(o.ip_adapter),
            "style_image": o.style_image,
            "scale": o.ip_adapter_scale,
        }
