"""Diffusion detail refine for upscaling (the "Clarity upscaler" idea), steady over time.

An already-upscaled frame is encoded whole (tiled VAE when large) and re-diffused at low
strength with the restyle prompt. The UNet runs on overlapping latent tiles of the working size
and their noise predictions are averaged with feathered weights before one scheduler step on
the whole latent (MultiDiffusion), so no seam can form. Across frames the refined latent is
reused by the restyle's own engine (``engine.ReuseEngine``): the anchor / previous refined latent
warped along the flow, blended in the reliable region, noised with warped noise, and x̂0 fused
toward it in the first steps (``fusion="x0"``, or the 0.1 pull with ``"latent"``), so refined
detail sticks to the picture instead of shimmering.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vidx.errors import OptionError
from vidx.frame import FrameContext
from vidx.options import DeviceOptions, RestyleOptions
from vidx.restyle.base import Resizer
from vidx.restyle.diffusion.denoise import (
    Conditioning,
    decode_latent,
    encode_conditioning,
    encode_image,
    predict_noise,
)
from vidx.restyle.diffusion.engine import REFINE_SEEDS, ReuseEngine
from vidx.restyle.diffusion.img2img import check_frame, diffusion_options
from vidx.restyle.diffusion.loading import load_pipeline, set_scheduler

TILING_PIXELS = 1024 * 1024


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``tile`` covering ``0..n`` with at least ``overlap`` shared."""
    if n <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, n - tile, stride))
    return starts + [n - tile]


def feather(h: int, w: int, overlap: int, device: torch.device) -> torch.Tensor:
    """``(1, 1, h, w)`` weights: 1 inside, ramping down to ``1 / (overlap + 1)`` at the edges."""

    def ramp(n: int) -> torch.Tensor:
        i = torch.arange(n, dtype=torch.float32, device=device)
        edge = torch.minimum(i + 1, n - i) / float(overlap + 1)
        return edge.clamp(max=1.0)

    return (ramp(h)[:, None] * ramp(w)[None, :])[None, None]


class _SchedulerView:
    """The pipeline with its own scheduler, so refine and restyle never share scheduler state."""

    def __init__(self, pipe, scheduler) -> None:
        self._pipe = pipe
        self.scheduler = scheduler

    def __getattr__(self, name: str):
        return getattr(self._pipe, name)


class DiffusionRefiner:
    """Re-diffuse an upscaled ``(H, W, 3)`` uint8 frame in overlapping tiles; same size out.

    ``strength`` is used on keyframes (and without ``ctx``), ``reuse_strength`` on frames that
    start from the warped previous refined latent. ``tile`` is the tile side in pixels (default
    ``work_size``), ``overlap`` the overlapped fraction of a tile, ``tile_batch`` how many
    tiles go through the UNet together. Prompt, steps, guidance, seed, scheduler and the temporal
    switches come from ``restyle`` (run as ``RestyleOptions.resolved`` says), the device and
    dtype from ``device``.
    """

    name = "diffusion-refine"

    def __init__(
        self,
        restyle: RestyleOptions,
        device: DeviceOptions = DeviceOptions(),
        *,
        strength: float = 0.3,
        reuse_strength: float = 0.2,
        tile: int | None = None,
        overlap: float = 0.25,
        tile_batch: int = 1,
        pipe=None,
    ) -> None:
        self.options = options = diffusion_options(restyle)
        for name, v in (
            ("refine_strength", strength),
            ("refine_reuse_strength", reuse_strength),
        ):
            if not 0 < v <= 1:
                raise OptionError(f"must be in (0, 1], got {v!r}", param=name)
        if not 0 <= overlap < 0.75:
            raise OptionError(f"must be in [0, 0.75), got {overlap!r}", param="refine_overlap")
        if tile_batch < 1:
            raise OptionError(f"must be at least 1, got {tile_batch!r}", param="refine_tile_batch")
        self.strength, self.reuse_strength = strength, min(reuse_strength, strength)
        self.tile = int(tile or options.work_size or 0)
        if self.tile < 64 or self.tile % 8:
            raise OptionError(
                f"must be a multiple of 8, at least 64, got {tile!r}", param="refine_tile"
            )
        self.overlap, self.tile_batch = overlap, tile_batch
        if pipe is None:
            pipe = load_pipeline(
                options.model or "",
                device.device,
                device.dtype,
                device.allow_pickle,
                options.vae or "",
            )
        base = pipe._pipe if isinstance(pipe, _SchedulerView) else pipe
        own = type(base.scheduler).from_config(base.scheduler.config)
        self.pipe = _SchedulerView(base, own)
        set_scheduler(self.pipe, options.scheduler)
        self.unet_calls = 0
        self.frames = 0
        self._cond: Conditioning | None = None
        self._engine = ReuseEngine(self.options, REFINE_SEEDS)
        self.reset()

    def reset(self) -> None:
        self._engine.reset()

    def _tiled_predict(self, pipe, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning):
        _, _, h, w = latents.shape
        f = pipe.vae_scale_factor
        tl = self.tile // f
        th, tw = min(tl, h), min(tl, w)
        ov = int(round(tl * self.overlap))
        windows = [(y, x) for y in tile_starts(h, th, ov) for x in tile_starts(w, tw, ov)]
        weight = feather(th, tw, ov, latents.device)
        acc = torch.zeros(latents.shape, dtype=torch.float32, device=latents.device)
        total = torch.zeros((1, 1, h, w), dtype=torch.float32, device=latents.device)
        for k in range(0, len(windows), self.tile_batch):
            chunk = windows[k : k + self.tile_batch]
            x = torch.cat([latents[:, :, y : y + th, x0 : x0 + tw] for y, x0 in chunk])
            self.unet_calls += 1
            eps = predict_noise(pipe, x, t, cond).float()
            for j, (y, x0) in enumerate(chunk):
                acc[:, :, y : y + th, x0 : x0 + tw] += eps[j : j + 1] * weight
                total[:, :, y : y + th, x0 : x0 + tw] += weight
        return (acc / total).to(latents.dtype)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, ctx: FrameContext | None = None) -> np.ndarray:
        o, pipe = self.options, self.pipe
        image = check_frame(image)
        h, w = image.shape[:2]
        unit = pipe.vae_scale_factor * 8
        ph, pw = math.ceil(h / unit) * unit, math.ceil(w / unit) * unit
        padded = np.pad(
            image,
            ((0, ph - h), (0, pw - w), (0, 0)),
            mode="reflect" if (ph - h < h and pw - w < w) else "edge",
        )
        if ph * pw > TILING_PIXELS:
            pipe.vae.enable_tiling()
        if self._cond is None:
            self._cond = encode_conditioning(
                pipe,
                o.prompt or "",
                o.negative_prompt,
                o.guidance,
                (self.tile, self.tile),
                cfg_with_embedding=o.diffusion_temporal.lcm_cfg,
                mode="none" if o.cfg == "none" else "full",  # tiles keep full guidance
            )
        z = encode_image(pipe, padded)
        f = pipe.vae_scale_factor
        plan = self._engine.prepare(
            pipe,
            z,
            ctx,
            strength=self.strength,
            reuse_strength=self.reuse_strength,
            latent_size=(h // f, w // f),  # the picture's cells; the padding is edge-extended
        )
        latents = self._engine.denoise(pipe, plan, self._cond, predict=self._tiled_predict)
        self._engine.keep(latents, plan)
        self.frames += 1
        return np.ascontiguousarray(decode_latent(pipe, latents)[:h, :w])

    def describe(self) -> dict:
        return {
            "name": self.name,
            "strength": self.strength,
            "reuse_strength": self.reuse_strength,
            "tile": self.tile,
            "overlap": self.overlap,
            "frames": self.frames,
            "unet_calls": self.unet_calls,
        }


class RefineUpscaler:
    """An upscaler (``vidx.upscale.base.Upscaler``, structurally) that runs ``base`` and then
    the diffusion ``refiner`` on its result."""

    def __init__(self, base: Resizer, refiner: DiffusionRefiner) -> None:
        self.base, self.refiner = base, refiner
        self.name = f"{base.name}+refine"

    def __call__(
        self, image: np.ndarray, size: tuple[int, int], ctx: FrameContext | None = None
    ) -> np.ndarray:
        return self.refiner(self.base(image, size, ctx), ctx)

    def reset(self) -> None:
        self.refiner.reset()

    def describe(self) -> dict:
        return {"name": self.name, "base": self.base.describe(), "refine": self.refiner.describe()}
