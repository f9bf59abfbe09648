"""Warp Gaussian noise along a flow field so content keeps its noise as it moves.

Two methods. ``warp_noise`` is the plain one: a nearest-neighbour gather at latent resolution
(every value stays an exact N(0, 1) sample, but motion below half a latent pixel per frame is
lost, a larger one jumps a whole pixel, and a zoom duplicates samples). ``integral_warp_noise``
is the one to use: it keeps the noise at ``k`` sub-cells per latent pixel with the true position
of each sample, so sub-pixel motion adds up, and it splits a sample taken several times into
independent ones, so the latent noise stays i.i.d. N(0, 1) under pans, zooms and rotations.
Pixels with no trustworthy source get fresh noise in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

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


@dataclass
class NoiseField:
    """Gaussian noise kept at ``subcells`` x the latent resolution, plus where each sample is.

    ``fine`` is ``(B, C, h*k, w*k)`` float32 i.i.d. N(0, 1); the latent noise is the sum of
    each ``k x k`` block divided by ``k`` (so it is i.i.d. N(0, 1) too). ``offset`` is
    ``(B, 2, h*k, w*k)``: the true position of each sample minus its grid position, in
    sub-cells (x first), so motion below one sub-cell per frame still adds up.
    """

    fine: torch.Tensor
    offset: torch.Tensor
    subcells: int

    def latent(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The ``(B, C, h, w)`` latent noise: block sums of ``fine`` over ``k``."""
        b, c, hk, wk = self.fine.shape
        k = self.subcells
        out = self.fine.reshape(b, c, hk // k, k, wk // k, k).sum(dim=(3, 5)) / k
        return out if dtype is None else out.to(dtype)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    out = torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32)
    return out.to(device)


def noise_field(
    noise: torch.Tensor, subcells: int, generator: torch.Generator | None
) -> NoiseField:
    """Conditional upsampling: an i.i.d. N(0, 1) fine field whose block sums give ``noise``.

    Args:
        noise: ``(B, C, h, w)`` latent noise, i.i.d. N(0, 1) (e.g. the seeded keyframe noise).
        subcells: ``k``, sub-cells per latent pixel along each axis (1 = no sub-cells).
        generator: for the detail inside each block.

    Returns:
        A ``NoiseField`` with ``field.latent() == noise`` (to float rounding) and zero offsets:
        ``fine = noise / k + (Z - mean_block(Z))`` with Z i.i.d. N(0, 1), which is i.i.d.
        N(0, 1) (variance ``1/k^2 + 1 - 1/k^2``, zero covariance inside a block).
    """
    if not isinstance(noise, torch.Tensor) or noise.ndim != 4:
        shape = getattr(noise, "shape", type(noise))
        raise TemporalError(f"noise must be a (B, C, h, w) tensor, got {shape}")
    if int(subcells) != subcells or not 1 <= subcells <= 64:
        raise TemporalError(f"subcells must be an integer from 1 to 64, got {subcells!r}")
    k = int(subcells)
    b, c, h, w = noise.shape
    base = noise.float().repeat_interleave(k, dim=2).repeat_interleave(k, dim=3) / k
    z = _randn((b, c, h * k, w * k), generator, noise.device)
    zmean = z.reshape(b, c, h, k, w, k).mean(dim=(3, 5), keepdim=True)
    detail = (z.reshape(b, c, h, k, w, k) - zmean).reshape(b, c, h * k, w * k)
    offset = torch.zeros((b, 2, h * k, w * k), device=noise.device)
    return NoiseField(base + detail, offset, k)


def integral_warp_noise(
    field: NoiseField,
    flow: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None,
    generator: torch.Generator | None,
    *,
    weight: float = 0.0,
) -> NoiseField:
    """Carry a noise field into the current frame so it follows sub-pixel motion and stays
    i.i.d. N(0, 1) (an equivalent of integral noise warping, Chang et al., ICLR 2024).

    Each fine sample of the current frame takes the previous fine sample whose *true* position
    (grid + offset) is nearest to where the flow sends it, and keeps the leftover as its own
    offset (so 0.3 px per frame moves 3 px in 10 frames, not 0). Where ``n`` samples take the
    same source ``x`` (a zoom in), each gets ``x / sqrt(n) + (Z_i - mean(Z))``: i.i.d. N(0, 1)
    whose sum is ``sqrt(n) x``, so nothing is duplicated. Sources nobody takes are dropped;
    samples whose source is outside the frame or under a False mask get fresh noise.

    Args:
        field: the previous frame's ``NoiseField`` (from ``noise_field`` or this function).
        flow: ``(h, w, 2)`` numpy or ``(B|1, 2, h, w)`` tensor, flow from the current frame
            to the previous one in *latent* pixels (``resize_flow(flow(cur, prev), (h, w))``).
        mask: ``(h, w)`` bool (numpy or tensor), True where the flow is reliable; None = all.
        generator: ``torch.Generator`` for the fresh noise.
        weight: share ``a`` of fresh noise mixed in everywhere (variance preserving).

    Returns:
        The current frame's ``NoiseField``; its ``latent()`` is the noise to use.

    Convention: flow in latent pixels, x in channel 0; sub-cell i of latent pixel p sits at
    ``p + (i + 0.5) / k - 0.5`` and reads the flow there (bilinear).
    """
    a = check_unit(weight, "weight")
    fine, k = field.fine, field.subcells
    bsz, ch, hk, wk = fine.shape
    h, w = hk // k, wk // k
    dev = fine.device
    f = flow_to_tensor(flow, fine).float()
    if f.shape[2:] != (h, w) or f.shape[0] not in (1, bsz):
        raise TemporalError(f"flow {tuple(f.shape)} does not fit noise {(bsz, ch, h, w)}")
    m = _mask_tensor(mask, (h, w), dev)
    if k > 1:
        f = F.interpolate(f, size=(hk, wk), mode="bilinear", align_corners=False)
        m = m.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)
    f = (f * k).expand(bsz, 2, hk, wk)  # in sub-cells
    ys, xs = torch.meshgrid(
        torch.arange(hk, device=dev, dtype=torch.float32),
        torch.arange(wk, device=dev, dtype=torch.float32),
        indexing="ij",
    )
    tx, ty = xs + f[:, 0], ys + f[:, 1]  # where each current sample comes from (true position)
    n_fine = hk * wk

    def flat(ix: torch.Tensor, iy: torch.Tensor) -> torch.Tensor:
        return (iy.clamp(0, hk - 1) * wk + ix.clamp(0, wk - 1)).long().reshape(bsz, n_fine)

    off = field.offset.reshape(bsz, 2, n_fine)
    near = flat(torch.round(tx), torch.round(ty))
    ox, oy = off[:, 0].gather(1, near), off[:, 1].gather(1, near)
    sx = torch.round(tx - ox.reshape(bsz, hk, wk))
    sy = torch.round(ty - oy.reshape(bsz, hk, wk))
    inside = (tx > -0.5) & (tx < wk - 0.5) & (ty > -0.5) & (ty < hk - 0.5)
    inside &= (sx >= 0) & (sx <= wk - 1) & (sy >= 0) & (sy <= hk - 1)
    valid = (inside & m).reshape(bsz, n_fine)
    src = flat(sx, sy)

    out = _split_sources(fine, src, valid, generator)
    if a > 0.0:
        mix = _randn((bsz, ch, hk, wk), generator, dev).reshape(bsz, ch, n_fine)
        out = (a * mix + (1.0 - a) * out) / float(np.hypot(a, 1.0 - a))

    offset = _leftover(tx, ty, sx, sy, off, src, valid)
    return NoiseField(out.reshape(bsz, ch, hk, wk), offset, k)


def _split_sources(
    fine: torch.Tensor, src: torch.Tensor, valid: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Each sample's noise, ``(B, C, hk * wk)``: the ``n`` valid samples that take one source
    ``x`` (``src``, ``valid``: ``(B, hk * wk)``) split it as ``x / sqrt(n) + (Z_i - mean(Z))``;
    a sample that is not valid takes its fresh ``Z`` (used nowhere else)."""
    bsz, ch, hk, wk = fine.shape
    n_fine, dev = hk * wk, fine.device
    vf = valid.float()
    count = torch.zeros((bsz, n_fine), device=dev).scatter_add_(1, src, vf)
    n = count.gather(1, src).clamp(min=1.0)
    z = _randn((bsz, ch, hk, wk), generator, dev).reshape(bsz, ch, n_fine)
    src_c = src[:, None].expand(bsz, ch, n_fine)
    zsum = torch.zeros((bsz, ch, n_fine), device=dev).scatter_add_(2, src_c, z * vf[:, None])
    taken = fine.reshape(bsz, ch, n_fine).gather(2, src_c)
    split = taken / n.sqrt()[:, None] + (z - zsum.gather(2, src_c) / n[:, None])
    return torch.where(valid[:, None], split, z)


def _leftover(
    tx: torch.Tensor,
    ty: torch.Tensor,
    sx: torch.Tensor,
    sy: torch.Tensor,
    off: torch.Tensor,
    src: torch.Tensor,
    valid: torch.Tensor,
) -> torch.Tensor:
    """The new offsets ``(B, 2, hk, wk)``: a valid sample keeps how far its true position
    ``(tx, ty)`` is from its source's (``(sx, sy)`` plus the source's offset ``off``); a fresh one
    sits on its grid point."""
    bsz, hk, wk = tx.shape
    n_fine = hk * wk
    new_ox = torch.where(
        valid, sx.reshape(bsz, n_fine) + off[:, 0].gather(1, src), tx.reshape(bsz, n_fine)
    )
    new_oy = torch.where(
        valid, sy.reshape(bsz, n_fine) + off[:, 1].gather(1, src), ty.reshape(bsz, n_fine)
    )
    offset = torch.stack(
        (new_ox - tx.reshape(bsz, n_fine), new_oy - ty.reshape(bsz, n_fine)), dim=1
    ).reshape(bsz, 2, hk, wk)
    return offset


def _mask_tensor(
    mask: np.ndarray | torch.Tensor | None, size: tuple[int, int], device
) -> torch.Tensor:
    """``(B|1, h, w)`` bool from an optional ``(h, w)`` or ``(B, 1, h, w)`` mask."""
    h, w = size
    if mask is None:
        return torch.ones((1, h, w), dtype=torch.bool, device=device)
    m = torch.as_tensor(np.asarray(mask) if isinstance(mask, np.ndarray) else mask)
    m = m.to(device=device).bool()
    if m.ndim == 4:
        m = m[:, 0]
    if m.ndim == 2:
        m = m[None]
    if m.shape[-2:] != (h, w):
        raise TemporalError(f"mask must have shape ({h}, {w}), got {tuple(m.shape)}")
    return m
