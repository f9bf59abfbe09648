"""Temporal img2img restyle: Stable Diffusion per frame, reusing the previous frame's latent.

Per DESIGN.md "Temporal consistency": the first frame and scene cuts are a plain seeded
img2img. Every other frame is steadied toward a reference: the anchor (last keyframe) latent
warped once along the flow composed since the anchor, or the previous latent warped once where
the anchor is not seen. It starts from its own latent blended with that reference, is noised
with the previous noise warped along the flow (integral noise warping), and in the first steps
its predicted x̂0 is fused with the reference inside a strict, feathered mask
(``x0_fusion.fuse_prediction``); it attends to the keyframe and is colour-anchored to it. Because
it starts from a reused latent it runs at ``reuse_strength`` (fewer UNet calls). A periodic
keyframe that comes with a flow runs at ``strength`` from its own latent but is fused toward the
reference too, so it does not pop, and becomes the next anchor. ``fusion="latent"`` keeps the
0.1 method (previous final latent re-warped and pulled toward). What a frame reuses and how it is
denoised is ``engine.ReuseEngine``, which the tiled refine shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import temporal
from temporal.propagate import Propagator, Step
from vidx.errors import InputError, OptionError
from vidx.frame import FrameContext
from vidx.options import DeviceOptions, RestyleOptions, attention_blocks, parse_lora
from vidx.restyle.diffusion.adapters import apply_loras, file_sha256, load_ip_adapter, load_loras
from vidx.restyle.diffusion.attention import CrossFrameState, install_cross_frame
from vidx.restyle.diffusion.control import make_guide
from vidx.restyle.diffusion.crops import (
    MAX_BOX_SHARE,
    Box,
    batch_boxes,
    box_share,
    cut,
    cut_image,
    cut_plan,
    fresh_boxes,
    inside,
    paste_image,
    paste_latent,
    scaled,
    stack_plans,
)
from vidx.restyle.diffusion.denoise import (
    Conditioning,
    Keep,
    ResidualNegative,
    Steering,
    UNetCounter,
    decode_latent,
    decode_latents,
    encode_image,
    predict_noise,
)
from vidx.restyle.diffusion.engine import RESTYLE_SEEDS, FramePlan, ReuseEngine, latent_flow_mask
from vidx.restyle.diffusion.loading import load_pipeline, set_scheduler
from vidx.restyle.diffusion.pixel import PixelMemory, PixelTarget, Warped, follow_color
from vidx.restyle.diffusion.prompts import Conditioner
from vidx.restyle.diffusion.reuse_mask import held_cells
from vidx.restyle.diffusion.similarity import SimilarityFilter, still_cells
from vidx.restyle.diffusion.working import check_frame, latent_keep, resize_rgb, work_size_for

__all__ = ["DiffusionRestyler", "check_frame", "latent_flow_mask", "resize_rgb", "work_size_for"]

TILING_PIXELS = 1536 * 1536  # VAE tiling above this many working pixels
COLOR_ANCHOR_WEIGHT = 1.0  # how much of the colour statistics a frame takes from the past
# the propagation's layers ramp in over about a pixel: what a slowly moving subject uncovers
# is a strip 1-3 px wide, and a wider feather mixes its render with the layer beside it
# (``temporal.propagate`` module doc; docs/BENCHMARKS.md)
LAYER_FEATHER_PX = 0.5
# the temporal steps ``describe`` records, in the sidecar's order
DESCRIBED_STEPS = (
    "latent_blend",
    "warp_noise",
    "noise_warp",
    "pull",
    "fusion",
    "anchor_keyframes",
    "cross_frame_attn",
    "cross_frame_blocks",
    "color_anchor",
    "color_match",
    "pixel_fusion",
    "propagate",
    "skip_covered",
)


def diffusion_options(restyle: RestyleOptions) -> RestyleOptions:
    """``restyle`` as the diffusion backend runs it (``RestyleOptions.resolved``); an
    OptionError when it does not ask for diffusion."""
    if restyle.backend != "diffusion":
        raise OptionError("is required for the diffusion restyle", param="prompt")
    return restyle.resolved()


def read_picture(path: str | None) -> np.ndarray:
    """The IP-Adapter's style picture as ``(H, W, 3)`` uint8 RGB."""
    from PIL import Image

    try:
        with Image.open(str(path)) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InputError(f"style_image {path} cannot be read: {exc}") from None


@dataclass
class RestyleStats:
    """What a ``DiffusionRestyler`` counted (``describe``): UNet forward calls (a guidance
    batch is one call) and batch rows, split into keyframes and the other frames; frames shown
    from propagation alone (``covered_frames``) and the largest share of one filled in rather
    than rendered; frames' worth of pixels not taken from the frame's own render
    (``propagated``) and of latent cells kept as the last render left them (``still_cells``);
    UNet calls weighted by the share of the frame's latent they denoised (``unet_area``: a
    boxed render, ``crops``, costs its boxes' share), and the frames rendered in boxes."""

    frames: int = 0
    keyframes: int = 0
    anchored_keyframes: int = 0
    unet_calls: int = 0
    unet_calls_keyframes: int = 0
    unet_rows: int = 0
    covered_frames: int = 0
    filled_max: float = 0.0
    propagated: float = 0.0
    still_cells: float = 0.0
    unet_area: float = 0.0
    boxed_frames: int = 0
    boxes: int = 0
    boxed_share: float = 0.0


@dataclass
class WorkFrame:
    """A frame on its way through the restyler: the source at the working ``size``, what the
    propagation holds of it (``step``, None without propagation) and, once it is rendered,
    the last rendered frame's working image (``prior``, for the still cells)."""

    work: np.ndarray
    size: tuple[int, int]
    step: Step | None
    prior: np.ndarray | None = None


@dataclass
class Render:
    """A rendered frame: the engine's ``plan``, the final ``latents``, the decoded ``image``
    and the UNet calls it took."""

    plan: FramePlan
    latents: torch.Tensor
    image: np.ndarray
    unet_calls: int


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
            d = device
            pipe = load_pipeline(o.model or "", d.device, d.dtype, d.allow_pickle, o.vae or "")
        self.pipe = pipe
        set_scheduler(pipe, o.scheduler)
        if o.ip_adapter:  # before cross-frame attention: it rebuilds every processor
            load_ip_adapter(pipe, o.ip_adapter)
        self.loras = load_loras(pipe, tuple(parse_lora(text) for text in o.lora))
        self._style = read_picture(o.style_image) if o.ip_adapter else None
        self.attn: CrossFrameState | None = None
        if t.cross_frame_attn:
            self.attn = install_cross_frame(pipe.unet, attention_blocks(t.cross_frame_blocks))
        self.control = make_guide(o.diffusion_control, pipe, device.allow_pickle)
        if o.compile:
            pipe.unet.compile(dynamic=False)
        self.prompts = Conditioner(pipe, o, self._style, self.control)
        self.stats = RestyleStats()
        self._counter = UNetCounter(pipe.unet)
        self._filter = SimilarityFilter(t.similarity_threshold, t.max_skip, o.seed)
        self._engine = ReuseEngine(self.options, RESTYLE_SEEDS)
        self._pixels = PixelMemory()
        self._propagator = Propagator(feather=LAYER_FEATHER_PX)
        self._frame_cells = 1  # latent cells of the frame being rendered (``unet_area``)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame and keyframe (new clip or segment)."""
        self._key_output: np.ndarray | None = None
        self._last_output: np.ndarray | None = None
        self._covered_run = 0
        self._filter.reset()
        self._engine.reset()
        self._pixels.clear()
        self._propagator.reset()
        if self.attn is not None:
            self.attn.clear()
        if self.control is not None:
            self.control.reset()

    @torch.no_grad()
    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        # 1. prepare the frame: a cut starts over; the working image; what propagation holds
        frame = self._prepare(image, ctx)
        # 2. decide what to render: a frame the similarity filter skips or the propagation
        #    covers is shown without rendering (the state follows the flow)
        shown = self._shown_without_render(frame, ctx)
        if shown is not None:
            return shown
        # 3. render: encode, steady toward the past (engine.py), denoise, decode, colour
        render = self._render(frame, ctx)
        # 4. propagate: what the anchors still see is shown as they rendered it
        out = self._propagate(frame, render)
        # 5. record: the state the next frame reuses, a keyframe as the new anchor, the stats
        self._record(frame, render, out)
        return out

    def _prepare(self, image: np.ndarray, ctx: FrameContext) -> WorkFrame:
        """Step 1. A new shot starts over (nothing before a cut is reused and the generators
        restart, so a segment may start fresh at a cut); this restyler's LoRAs and IP-Adapter
        go on the (maybe shared) pipeline."""
        image = check_frame(image)
        if ctx.scene_cut:
            self.reset()
        apply_loras(self.pipe, self.loras)
        if self._style is not None:
            self.pipe.set_ip_adapter_scale(self.options.ip_adapter_scale)
        size = work_size_for(image.shape[0], image.shape[1], self.options.work_size or 0)
        if size[0] * size[1] > TILING_PIXELS:
            self.pipe.vae.enable_tiling()
        work = resize_rgb(image, size)
        step = (
            self._propagator.prepare(work, ctx.flow, ctx.mask, ctx.scene_cut)
            if self.temporal.propagate
            else None
        )
        return WorkFrame(work, size, step)

    def _shown_without_render(self, frame: WorkFrame, ctx: FrameContext) -> np.ndarray | None:
        """Step 2. The output of a frame that is not rendered, else None. The similarity filter
        skips a frame near-identical to the last rendered one (with propagation it shows what
        that carries, else the last output); ``skip_covered`` skips one the propagation
        holds."""
        step, stats = frame.step, self.stats
        if self._last_output is not None and self._filter.skip(frame.work, ctx.scene_cut):
            if step is not None and step.shown is not None:
                return self._fill(step, frame.work, ctx)
            stats.frames += 1
            return self._last_output.copy()
        if step is not None and self._covered(step, ctx):
            self._covered_run += 1
            stats.covered_frames += 1
            stats.filled_max = max(stats.filled_max, 1.0 - step.covered)
            return self._fill(step, frame.work, ctx)
        self._covered_run = 0
        return None

    def _render(self, frame: WorkFrame, ctx: FrameContext) -> Render:
        """Step 3. Encode the frame; the engine decides what it reuses and plans its
        denoising; denoise it (a kept region stays the source's latent); decode it."""
        pipe, o = self.pipe, self.options
        frame.prior = self._filter.rendered(frame.work)
        if self.control is not None:  # structure from the source frame, at the working size
            self.control.set_frame(frame.work)
        z = encode_image(pipe, frame.work)
        self._frame_cells = z.shape[2] * z.shape[3]
        prev_latent = self._engine.prev_latent
        held = None
        if frame.step is not None and frame.step.remaining is not None:
            size = (z.shape[2], z.shape[3])
            cell = int(getattr(pipe, "vae_scale_factor", 8))
            held = held_cells(
                frame.step.remaining,
                size,
                z,
                dilate=self.temporal.reuse_dilate,
                open_px=self.temporal.reuse_open * cell,
            )
        plan = self._engine.prepare(
            pipe,
            z,
            ctx,
            strength=o.strength or 0.0,
            reuse_strength=self.temporal.reuse_strength,
            held=held,
        )
        cond = self.prompts.at(frame.size, ctx.index)
        if self.attn is not None:  # a fresh start forgets; a frame tied to the past attends
            if not plan.tied:
                self.attn.clear()
            self.attn.use = plan.tied
        warped = self._pixel_reference(plan, ctx)
        calls_before = self.stats.unet_calls
        groups = batch_boxes(self._fresh_boxes(plan, held, frame, ctx), (z.shape[2], z.shape[3]))
        if groups:
            latents = self._denoise_boxes(plan, cond, z, ctx, groups)
        else:
            latents = self._denoise(plan, cond, z, ctx)
        calls = self.stats.unet_calls - calls_before
        latents = self._keep_still_cells(frame, latents, prev_latent, ctx)
        if groups and frame.step is not None and frame.step.filler is not None:
            image = frame.step.filler.copy()  # outside the boxes the layers hold every pixel
            cell = int(getattr(pipe, "vae_scale_factor", 8))
            for group in groups:  # a group decodes in one batch, its boxes grown as rendered
                parts = decode_latents(pipe, torch.cat([cut(latents, r) for _, r in group]))
                for part, (box, render) in zip(parts, group, strict=True):
                    paste_image(image, cut_image(part, inside(box, render), cell), box, cell)
        else:
            image = decode_latent(pipe, latents)
        image = self._colour(image, frame, warped, plan)
        return Render(plan, latents, image, calls)

    def _fresh_boxes(
        self, plan: FramePlan, held: torch.Tensor | None, frame: WorkFrame, ctx: FrameContext
    ) -> list[Box]:
        """The boxes a frame between keyframes renders instead of the whole frame
        (``crops``), or [] to render it whole: a keyframe, a frame the layers do not hold
        mostly, or steering that needs the whole frame (a kept region, the pixel-space x̂0
        target)."""
        if not plan.reuse or held is None or plan.reference is None or ctx.region is not None:
            return []
        if frame.step is None or frame.step.filler is None:
            return []
        if plan.x0_fusion is not None and plan.x0_fusion.refine is not None:
            return []
        cell = int(getattr(self.pipe, "vae_scale_factor", 8))
        boxes = fresh_boxes(held, cell)
        size = (plan.z_start.shape[2], plan.z_start.shape[3])
        if not boxes or box_share(boxes, size) > MAX_BOX_SHARE:
            return []
        self.stats.boxed_frames += 1
        self.stats.boxes += len(boxes)
        self.stats.boxed_share += box_share(boxes, size)
        return boxes

    def _denoise_boxes(
        self,
        plan: FramePlan,
        cond: Conditioning,
        z: torch.Tensor,
        ctx: FrameContext,
        groups: list[list[tuple[Box, Box]]],
    ) -> torch.Tensor:
        """Denoise the boxes of the frame, a group of them in one batch (``crops.batch_boxes``,
        ``cut_plan``, ``stack_plans``); the final latent is the reference with the boxes in it
        (what the layers show outside them)."""
        reference = plan.reference
        if reference is None:
            raise ValueError("a boxed render needs the plan's reference latent")
        latents = reference.to(z.dtype)
        control = self.control.image if self.control is not None else None
        cell = int(getattr(self.pipe, "vae_scale_factor", 8))
        try:
            for g, group in enumerate(groups):
                renders = [render for _, render in group]
                if self.control is not None and control is not None:  # its structure, boxed
                    self.control.image = torch.cat([cut(control, scaled(r, cell)) for r in renders])
                if self.attn is not None:  # the next frame attends to every box of this one
                    self.attn.more = g > 0
                    self.attn.boxes, self.attn.cells = tuple(renders), (z.shape[2], z.shape[3])
                part = self._denoise(
                    stack_plans([cut_plan(plan, r) for r in renders]),
                    cond,
                    torch.cat([cut(z, r) for r in renders]),
                    ctx,
                    last=g == len(groups) - 1,
                )
                for row, (box, render) in enumerate(group):  # only the box itself is shown
                    latents = paste_latent(
                        latents, cut(part[row : row + 1], inside(box, render)), box
                    )
        finally:
            if self.control is not None:
                self.control.image = control
            if self.attn is not None:
                self.attn.boxes = ()
        return latents

    def _pixel_reference(self, plan: FramePlan, ctx: FrameContext) -> Warped | None:
        """The previous output warped into a frame tied to the past; with pixel-space x̂0
        fusion (``pixel_fusion``) it is re-encoded into the x̂0 fusion's target."""
        if not plan.tied:
            return None
        t = self.temporal
        cell = int(getattr(self.pipe, "vae_scale_factor", 8))
        warped = self._pixels.warped(ctx, t.reuse_open, cell)
        pixel_on = t.pixel_fusion != "off" and t.pixel_fusion_weight > 0
        if plan.x0_fusion is not None and pixel_on and warped is not None:
            plan.x0_fusion.refine = PixelTarget(
                self.pipe,
                warped,
                plan.x0_fusion.target,
                t.pixel_fusion_weight,
                t.pixel_fusion == "fidelity",
            )
        return warped

    def _denoise(
        self,
        plan: FramePlan,
        cond: Conditioning,
        z: torch.Tensor,
        ctx: FrameContext,
        last: bool = True,
    ) -> torch.Tensor:
        """Denoise from the noised start latent, counting UNet calls and rows; the frame's
        attention features are recorded once its ``last`` part is denoised."""
        keep = None
        if ctx.region is not None:
            keep = Keep(z, plan.noise, latent_keep(ctx.region, (z.shape[2], z.shape[3]), z))
        negative = None  # residual guidance: the negative leads back to the start latent
        if cond.residual:
            negative = ResidualNegative(plan.z_start, once=cond.residual == "once")
        steering = Steering(keep=keep, negative=negative, on_step=self._on_step)
        rows_before = self._counter.rows
        try:
            return self._engine.denoise(self.pipe, plan, cond, self._predict, steering)
        finally:
            self.stats.unet_rows += self._counter.rows - rows_before
            if self.attn is not None and last:
                self.attn.end_frame(keyframe=not plan.reuse)

    def _predict(self, pipe, latents, t, cond, negative=None):
        self.stats.unet_calls += 1
        cells = latents.shape[0] * latents.shape[-2] * latents.shape[-1]
        self.stats.unet_area += cells / self._frame_cells
        return predict_noise(pipe, latents, t, cond, negative)

    def _on_step(self, i: int, t: torch.Tensor) -> None:
        if self.attn is not None:
            self.attn.step = int(t)

    def _keep_still_cells(
        self, frame: WorkFrame, latents: torch.Tensor, prev: torch.Tensor | None, ctx: FrameContext
    ) -> torch.Tensor:
        """Latent cells whose pixels did not change since the last rendered frame keep its
        final latent (the similarity filter's ``still_cells``), so a still shot does not
        drift."""
        if frame.prior is None or prev is None or prev.shape != latents.shape or ctx.scene_cut:
            return latents
        cell = int(getattr(self.pipe, "vae_scale_factor", 8))
        still = still_cells(frame.prior, frame.work, cell, latents)
        self.stats.still_cells += float(still.mean())
        return latents + still * (prev - latents)

    def _colour(
        self, out: np.ndarray, frame: WorkFrame, warped: Warped | None, plan: FramePlan
    ) -> np.ndarray:
        """Colour continuity: ``follow`` the previous output warped in, moved as the source
        moved, or the 0.1 AdaIN to the ``keyframe``'s output."""
        t = self.temporal
        if not t.color_anchor or COLOR_ANCHOR_WEIGHT <= 0:
            return out
        if t.color_match == "follow" and warped is not None:
            return follow_color(out, warped, frame.work, COLOR_ANCHOR_WEIGHT)
        if t.color_match == "keyframe" and plan.reuse and self._key_output is not None:
            return self._anchor(out, self._key_output)
        return out

    def _propagate(self, frame: WorkFrame, render: Render) -> np.ndarray:
        """Step 4. Pixel-space propagation (``propagate.Propagator``) over the render."""
        if frame.step is None:
            return render.image
        out = self._propagator.show(frame.step, render.image, keyframe=not render.plan.reuse)
        self.stats.propagated += self._propagator.coverage
        return out

    def _record(self, frame: WorkFrame, render: Render, out: np.ndarray) -> None:
        """Step 5. The final latent and the output are the previous frame's now; a keyframe
        (a frame not reused) is the new anchor."""
        plan, stats = render.plan, self.stats
        self._engine.keep(render.latents, plan)
        self._pixels.keep(out, frame.work, keyframe=not plan.reuse)
        self._last_output = out
        stats.frames += 1
        if not plan.reuse:
            stats.keyframes += 1
            stats.anchored_keyframes += int(plan.anchored)
            stats.unet_calls_keyframes += render.unet_calls
            self._key_output = out

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
        self.stats.propagated += 1.0
        self.stats.frames += 1
        return out

    def _anchor(self, out: np.ndarray, key: np.ndarray) -> np.ndarray:
        if key.shape != out.shape:
            key = resize_rgb(key, out.shape[:2])
        matched = temporal.match_color(out, key)
        w = COLOR_ANCHOR_WEIGHT
        if w >= 1.0:
            return matched
        return temporal.fuse(out, matched, np.ones(out.shape[:2], dtype=bool), w)

    @property
    def shown_by(self) -> dict[str, np.ndarray]:
        """The ``(H, W)`` weight each layer had in the last frame's picture, by kind
        (``temporal.Propagator.shown_by``: anchor, patch, previous, render or filler), at the
        working size; empty without propagation."""
        return self._propagator.shown_by if self.temporal.propagate else {}

    def describe(self) -> dict:
        """Settings and counters: ``unet_calls`` counts UNet forward calls (a guidance batch is
        one call), split into keyframes and the other frames."""
        o, t, n = self.options, self.temporal, self.stats
        other = n.frames - n.keyframes
        return {
            "name": self.name,
            "model": o.model,
            "work_size": o.work_size,
            "strength": o.strength,
            "reuse_strength": t.reuse_strength,
            "steps": o.steps,
            "scheduler": o.scheduler,
            "temporal": {name: getattr(t, name) for name in DESCRIBED_STEPS},
            "cfg": o.cfg if o.cfg != "residual" else f"residual-{o.cfg_negative}",
            "frames": n.frames,
            "skipped_frames": self._filter.skipped,
            "covered_frames": n.covered_frames,
            "filled_share_max": n.filled_max,
            "still_cells_frames": n.still_cells,
            "propagated_share": n.propagated / n.frames if n.frames else 0.0,
            "boxed_frames": n.boxed_frames,
            "boxes": n.boxes,
            "boxed_share_mean": n.boxed_share / n.boxed_frames if n.boxed_frames else 0.0,
            "keyframes": n.keyframes,
            "anchored_keyframes": n.anchored_keyframes,
            "unet_calls": n.unet_calls,
            "unet_calls_keyframes": n.unet_calls_keyframes,
            "unet_calls_other": n.unet_calls - n.unet_calls_keyframes,
            "unet_calls_per_frame": n.unet_calls / n.frames if n.frames else 0.0,
            "unet_area_per_frame": n.unet_area / n.frames if n.frames else 0.0,
            "unet_rows": n.unet_rows,
            "unet_rows_per_frame": n.unet_rows / n.frames if n.frames else 0.0,
            "other_frames": other,
            "attention_store_bytes": self.attn.nbytes() if self.attn is not None else 0,
            "control": self.control.describe() if self.control is not None else None,
            "lora": [{k: r[k] for k in ("path", "weight", "sha256")} for r in self.loras],
            "prompt_schedule": [{"frame": f, "prompt": p} for f, p in self.prompts.keys],
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
