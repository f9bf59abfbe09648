"""Blending two prompts' text conditioning: a prompt schedule's transitions.

Convention: embeddings are ``(B, tokens, D)`` (``B`` is 2 with classifier-free guidance,
the negative half first, the same in both prompts); a blend weight ``w`` is the share of the
second prompt; ``w <= 0`` and ``w >= 1`` return the inputs themselves (bit-exact, so a frame
outside a transition equals a run with that prompt alone).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from vidx.restyle.diffusion.denoise import Conditioning


def slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """Spherical interpolation of each last-dimension vector of ``a`` toward ``b`` by ``w``
    (norms interpolated linearly; nearly parallel vectors fall back to linear)."""
    if a.shape != b.shape:
        raise ValueError(f"slerp needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    a32, b32 = a.float(), b.float()
    na, nb = a32.norm(dim=-1, keepdim=True), b32.norm(dim=-1, keepdim=True)
    ua, ub = a32 / na.clamp_min(1e-8), b32 / nb.clamp_min(1e-8)
    omega = (ua * ub).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7).acos()
    sin = omega.sin()
    far = sin > 1e-4
    sa = torch.where(far, ((1 - w) * omega).sin() / sin, torch.full_like(sin, 1 - w))
    sb = torch.where(far, (w * omega).sin() / sin, torch.full_like(sin, w))
    direction = sa * ua + sb * ub
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return (direction * ((1 - w) * na + w * nb)).to(a.dtype)


def mix(a: torch.Tensor, b: torch.Tensor, w: float, mode: str) -> torch.Tensor:
    if mode == "slerp":
        return slerp(a, b, w)
    if mode != "linear":
        raise ValueError(f"mode must be linear or slerp, got {mode!r}")
    return torch.lerp(a, b, w)


def blend(a: Conditioning, b: Conditioning, w: float, mode: str = "linear") -> Conditioning:
    """``a``'s conditioning moved toward ``b``'s by ``w`` (text embeddings and, for SDXL, the
    pooled ``text_embeds``; time ids, guidance embedding and image embeddings are ``a``'s)."""
    if w <= 0:
        return a
    if w >= 1:
        return b
    added = a.added
    if a.added is not None and b.added is not None and "text_embeds" in a.added:
        added = {
            **a.added,
            "text_embeds": mix(a.added["text_embeds"], b.added["text_embeds"], w, mode),
        }
    return replace(a, embeds=mix(a.embeds, b.embeds, w, mode), added=added)
