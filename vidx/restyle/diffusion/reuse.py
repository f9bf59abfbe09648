"""State the temporal reuse carries from frame to frame, shared by the restyle and the refine.

Named seed offsets (instead of bare ``seed + 1``) and ``NoiseCarrier``: the noise of each frame,
seeded on fresh starts and warped along the flow otherwise (``temporal.integral_warp_noise`` by
default: it follows sub-pixel motion and stays i.i.d. N(0, 1); ``"nearest"`` is the old gather).
"""

from __future__ import annotations

import math

import torch

import temporal
from vidx.options import RestyleOptions

# offsets from ``options.seed`` of the generators each part draws from
SEED_FRESH_NOISE = 1  # fresh noise where the flow leaves the frame, in the noise field (restyle)
SEED_SCHEDULER = 2  # stochastic scheduler steps (restyle)
SEED_REFINE_FRESH_NOISE = 11
SEED_REFINE_SCHEDULER = 12

FRESH_NOISE_SHARE = 0.0  # fresh noise mixed into the carried noise everywhere (0: none)
NOISE_FINE_CELLS = 1 << 22  # at most this many sub-cells per channel in the noise field


def seeded_noise(shape: tuple[int, ...], seed: int, like: torch.Tensor) -> torch.Tensor:
    """N(0, 1) noise drawn on the CPU from ``seed`` (same values on every device)."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(shape, generator=gen).to(device=like.device, dtype=like.dtype)


def subcells_for(size: tuple[int, ...], requested: int) -> int:
    """Sub-cells per latent pixel for a latent of ``size``: ``requested``, fewer on big latents
    so the noise field stays within ``NOISE_FINE_CELLS`` per channel."""
    fit = math.isqrt(max(1, NOISE_FINE_CELLS // max(1, size[0] * size[1])))
    return max(1, min(int(requested), fit))


class NoiseCarrier:
    """The noise of the current frame and what it takes to warp it into the next one."""

    def __init__(self, options: RestyleOptions, seed_offset: int = SEED_FRESH_NOISE) -> None:
        self.options = options
        self.seed_offset = seed_offset
        self.reset()

    def reset(self) -> None:
        self.noise: torch.Tensor | None = None
        self.field: temporal.NoiseField | None = None
        self.fresh = torch.Generator(device="cpu").manual_seed(self.options.seed + self.seed_offset)

    def start(self, like: torch.Tensor) -> torch.Tensor:
        """Seeded noise for a fresh start (keyframe, cut, first frame); shape of ``like``."""
        o, t = self.options, self.options.diffusion_temporal
        noise = seeded_noise(tuple(like.shape), o.seed, like)
        self.field = None
        if t.warp_noise and t.noise_warp == "integral":
            k = subcells_for(tuple(like.shape[2:]), t.noise_subcells)
            self.field = temporal.noise_field(noise, k, self.fresh)
        self.noise = noise
        return noise

    def carry(self, flow: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The previous noise warped along ``flow`` (``(1, 2, h, w)``, current -> previous, in
        latent pixels) wherever it points, also where the flow's consistency check fails (a
        subject that changes shape: its noise travels with it; integral warping keeps it
        i.i.d.), fresh where it leaves the frame; seeded noise when warping is off or nothing
        fits."""
        o, t, prev = self.options, self.options.diffusion_temporal, self.noise
        if not t.warp_noise or prev is None or prev.shape != like.shape:
            noise = seeded_noise(tuple(like.shape), o.seed, like)
            self.noise = noise
            return noise
        if t.noise_warp == "integral":
            field = self.field
            if field is None or field.fine.shape[2:] != tuple(
                s * field.subcells for s in like.shape[2:]
            ):
                k = subcells_for(tuple(like.shape[2:]), t.noise_subcells)
                field = temporal.noise_field(prev, k, self.fresh)
            self.field = temporal.integral_warp_noise(
                field, flow, None, self.fresh, weight=FRESH_NOISE_SHARE
            )
            noise = self.field.latent(like.dtype)
        else:
            noise = temporal.warp_noise(prev, flow, None, self.fresh, weight=FRESH_NOISE_SHARE)
        self.noise = noise
        return noise
