"""Each frame's conditioning (``Conditioner``: its scheduled prompt, encoded once per working
size, with the IP-Adapter image) and blending two prompts' conditioning in a transition.

Convention: embeddings are ``(B, tokens, D)`` (``B`` is 2 with classifier-free guidance,
the negative half first, the same in both prompts); a blend weight ``w`` is the share of the
second prompt; ``w <= 0`` and ``w >= 1`` return the inputs themselves (bit-exact, so a frame
outside a transition equals a run with that prompt alone).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from vidx.options import RestyleOptions
from vidx.restyle.diffusion.adapters import image_embeds
from vidx.restyle.diffusion.denoise import Conditioning, encode_conditioning
from vidx.values.prompt_schedule import parse_schedule, prompt_at, resolve, transition_frames


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


def prompt_keys(o: RestyleOptions) -> list[tuple[int, str]]:
    """The prompt schedule as ``[(frame, prompt)]`` from frame 0 (just the prompt when there is
    none); keys must be in frames here (the job's plan converts seconds)."""
    if o.prompt_schedule is None:
        return [(0, o.prompt or "")]
    return resolve(parse_schedule(o.prompt_schedule), None, o.prompt or None)


class Conditioner:
    """Frame ``index``'s conditioning at a working size: its scheduled prompt (blended in a
    transition), each prompt encoded once per size; with an IP-Adapter ``style`` picture its
    image embeddings, and the ControlNet ``control`` guide attached."""

    def __init__(self, pipe, options: RestyleOptions, style: np.ndarray | None, control) -> None:
        self.pipe, self.options, self.style, self.control = pipe, options, style, control
        self.keys = prompt_keys(options)
        self.transition = transition_frames(options.prompt_transition, None)
        self.encoded: dict[tuple[tuple[int, int], str], Conditioning] = {}
        self.style_embeds: dict[bool, list[torch.Tensor]] = {}

    def at(self, size: tuple[int, int], index: int = 0) -> Conditioning:
        before, after, w = prompt_at(index, self.keys, self.transition)
        if w >= 1:
            return self._encoded(size, after)
        a, b = self._encoded(size, before), self._encoded(size, after)
        return blend(a, b, w, self.options.prompt_interpolation)

    def _encoded(self, size: tuple[int, int], prompt: str) -> Conditioning:
        if (size, prompt) not in self.encoded:
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
            if self.style is not None:
                cond.added = {**(cond.added or {}), "image_embeds": self._image_embeds(cond.cfg)}
            cond.control = self.control
            self.encoded[(size, prompt)] = cond
        return self.encoded[(size, prompt)]

    def _image_embeds(self, cfg: bool) -> list[torch.Tensor]:
        if cfg not in self.style_embeds and self.style is not None:
            self.style_embeds[cfg] = image_embeds(self.pipe, self.style, cfg)
        return self.style_embeds[cfg]
