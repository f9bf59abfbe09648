"""Warp Gaussian noise along a flow field so static content keeps the same noise.

Nearest-neighbour gather keeps every value an exact N(0, 1) sample (no interpolation shrinks
the variance); pixels with no trustworthy source get fresh noise.
"""

from __future__ import annotations

import numpy as np
import torch

from temporal._checks import check_unit
from temporal.errors import TemporalError
from temporal.warp import flow_to_tensor


def warp_noise(
    noise: torch.Tensor,
    flow: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None,
    generator: torch.Generator | None,
    *,
    weight: float = 0.0,
) -> torch.Tensor:
    """Carry the previous frame's noise into the current frame.

    Args:
        noise: ``(B, C, h, w)`` Gaussian noise used for the previous frame (latent resolution).
        flow: ``(h, w, 2)`` numpy or ``(B|1, 2, h, w)`` tensor, flow from the current frame to
            the previous one at latent resolution (``resize_flow(flow(cur, prev), (h, w))``).
        mask: ``(h, w)`` bool (numpy or tensor), True where the flow is reliable; None = all.
        generator: ``torch.Generator`` for the fresh noise (its device is used to draw).
        weight: share ``a`` of fresh noise mixed in everywhere the noise was carried over:
            ``(a * n_new + (1 - a) * n_old) / sqrt(a^2 + (1 - a)^2)`` (variance preserving).

    Returns:
        Noise with the same shape, dtype and device: ``out[p] = noise[round(p + flow[p])]``
        (mixed by ``weight``) where the mask is True and the source lies inside the frame,
        fresh N(0, 1) elsewhere.

    Convention: flow in latent pixels, x in channel 0; the source pixel is
    ``torch.round(p + flow[p])`` (nearest neighbour, ties to even).
    """
    if not isinstance(noise, torch.Tensor) or noise.ndim != 4:
        shape = getattr(noise, "shape", type(noise))
        raise TemporalError(f"noise must be a (B, C, h, w) tensor, got {shape}")
    a = check_unit(weight, "weight")
    bsz, ch, h, w = noise.shape
    f = flow_to_tensor(flow, noise).float()
    if f.shape[2:] != (h, w) or f.shape[0] not in (1, bsz):
        raise TemporalError(f"flow {tuple(f.shape)} does not fit noise {tuple(noise.shape)}")
    if mask is None:
        m = torch.ones((h, w), dtype=torch.bool, device=noise.device)
    else:
        m = torch.as_tensor(np.asarray(mask) if isinstance(mask, np.ndarray) else mask)
        m = m.to(device=noise.device).bool()
        if m.ndim == 4:
            m = m[:, 0]
        if m.shape[-2:] != (h, w):
            raise TemporalError(f"mask must have shape ({h}, {w}), got {tuple(m.shape)}")

    ys, xs = torch.meshgrid(
        torch.arange(h, device=noise.device, dtype=torch.float32),
        torch.arange(w, device=noise.device, dtype=torch.float32),
        indexing="ij",
    )
    sx = torch.round(xs + f[:, 0])  # (B|1, h, w)
    sy = torch.round(ys + f[:, 1])
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    valid = (inside & m).expand(bsz, h, w)
    idx = (sy.clamp(0, h - 1) * w + sx.clamp(0, w - 1)).long().expand(bsz, h, w)
    flat = noise.reshape(bsz, ch, h * w)
    old = torch.gather(flat, 2, idx.reshape(bsz, 1, h * w).expand(bsz, ch, h * w))
    old = old.reshape(bsz, ch, h, w)

    gen_device = generator.device if generator is not None else noise.device
    fresh = torch.randn(
        noise.shape, generator=generator, device=gen_device, dtype=torch.float32
    ).to(device=noise.device, dtype=noise.dtype)
    if a > 0.0:
        mixed = (a * fresh.float() + (1.0 - a) * old.float()) / float(np.hypot(a, 1.0 - a))
        old = mixed.to(noise.dtype)
    return torch.where(valid[:, None], old, fresh)
