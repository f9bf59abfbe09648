"""x̂0 fusion: blend the predicted clean latent with the warped reference in early steps.

"Fusion" in vidx means this step only (``--fusion x0``; its pixel-space variant,
``--pixel-fusion``, makes the reference in ``pixel.py``). Per DESIGN.md "Temporal
consistency" 2-4 (Rerender-A-Video's shape-aware fusion), with the reuse masks of
``reuse_mask.py``:

- ``AnchorTrack``: the reference a frame is steadied toward is the *anchor's* latent (the last
  keyframe's) warped once along the flow composed since the anchor, not the previous final
  latent re-warped every frame (repeated bilinear warps are an exponential blur). Where the
  anchor does not reach, the previous latent warped once fills in.
- ``fuse_prediction``: inside the scheduler loop, the predicted clean latent x̂0 is blended with
  the reference inside the mask and the model output rewritten to match; the blend's lost
  high-frequency energy is restored (variance compensation), so fusion does not smooth.

Convention: latents ``(1, C, h, w)``; flows ``(1, 2, h, w)`` from the current frame to the
previous one in latent pixels; masks ``(1, 1, h, w)`` float in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import temporal


class AnchorTrack:
    """The anchor latent, the flow from the current frame to it, and where it is still seen."""

    def __init__(self) -> None:
        self.anchor: torch.Tensor | None = None
        self.flow: torch.Tensor | None = None
        self.valid: torch.Tensor | None = None

    def set(self, latent: torch.Tensor) -> None:
        """Make ``latent`` (a keyframe's final latent) the anchor of the frames that follow."""
        self.anchor = latent.detach()
        b, _, h, w = latent.shape
        self.flow = torch.zeros((1, 2, h, w), device=latent.device, dtype=torch.float32)
        self.valid = torch.ones((1, 1, h, w), device=latent.device, dtype=torch.float32)

    def clear(self) -> None:
        self.anchor = self.flow = self.valid = None

    def advance(self, flow: torch.Tensor, hard: torch.Tensor) -> None:
        """Compose one more frame: ``flow`` (current -> previous) and its ``hard`` mask."""
        if self.flow is None or self.valid is None or self.flow.shape[2:] != flow.shape[2:]:
            self.clear()
            return
        self.flow = flow + temporal.warp(self.flow, flow)
        seen = temporal.warp(self.valid, flow) > 0.999
        _, _, h, w = flow.shape
        ys, xs = torch.meshgrid(
            torch.arange(h, device=flow.device, dtype=torch.float32),
            torch.arange(w, device=flow.device, dtype=torch.float32),
            indexing="ij",
        )
        sx, sy = xs + flow[:, 0:1], ys + flow[:, 1:2]
        inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
        self.valid = (seen & inside & (hard > 0.5)).float()

    def reference(
        self, prev_latent: torch.Tensor, flow: torch.Tensor, hard: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reference, reliable)``: the anchor warped along the composed flow where it is
        seen, else the previous latent warped once; ``reliable`` is the union (hard, 0/1)."""
        warped_prev = temporal.warp(prev_latent.float(), flow)
        if self.anchor is None or self.flow is None or self.valid is None:
            return warped_prev.to(prev_latent.dtype), hard
        warped_anchor = temporal.warp(self.anchor.float(), self.flow)
        ref = torch.where(self.valid > 0.5, warped_anchor, warped_prev)
        return ref.to(prev_latent.dtype), torch.maximum(self.valid, hard)


@dataclass
class X0Fusion:
    """Blend x̂0 toward ``target`` (clean latent) by ``mask`` (already times the weight) for the
    first ``steps`` steps. ``refine``, when set, replaces ``target`` on the first step from that
    step's x̂0 (pixel-aware fusion, ``pixel.PixelTarget``)."""

    target: torch.Tensor
    mask: torch.Tensor
    steps: int
    refine: Callable[[torch.Tensor], torch.Tensor] | None = None


def alpha_sigma(sched, t: torch.Tensor) -> tuple[float, float] | None:
    """``(a, s)`` with ``x_t = a x0 + s eps`` for the scheduler at ``t`` (``a = 1`` for
    sigma-parameterised schedulers such as Euler); None if unknown."""
    sigmas = getattr(sched, "sigmas", None)
    if float(getattr(sched, "init_noise_sigma", 1.0)) > 1.0 and sigmas is not None:
        idx = getattr(sched, "step_index", None)
        if idx is None and hasattr(sched, "index_for_timestep"):
            idx = sched.index_for_timestep(t)
        if idx is None:
            return None
        return 1.0, float(sigmas[int(idx)])
    ac = getattr(sched, "alphas_cumprod", None)
    if ac is None:
        return None
    a = float(ac[int(t)])
    return a**0.5, (1.0 - a) ** 0.5


def _high_pass(x: torch.Tensor) -> torch.Tensor:
    return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def blend_compensated(
    current: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``current * (1 - mask) + target * mask`` with the high-frequency energy that the blend
    lost inside the mask given back (per channel, gain in [1, 2])."""
    x = current.float()
    m = mask.to(x.device, torch.float32)
    fused = x + m * (target.to(x.device).float() - x)
    if float(m.max()) <= 0.0:
        return fused.to(current.dtype)
    hp_cur, hp_fused = _high_pass(x), _high_pass(fused)
    want = (m * hp_cur**2).sum(dim=(2, 3), keepdim=True)
    have = (m * hp_fused**2).sum(dim=(2, 3), keepdim=True).clamp(min=1e-12)
    gain = (want / have).sqrt().clamp(1.0, 2.0)
    fused = fused + (gain - 1.0) * hp_fused * (m / m.max())
    return fused.to(current.dtype)


def fuse_prediction(
    sched, latents: torch.Tensor, output: torch.Tensor, t: torch.Tensor, fusion: X0Fusion
) -> torch.Tensor:
    """Rewrite the model ``output`` (epsilon or v) so its x̂0 is fused with ``fusion.target``.

    Schedulers whose noise level cannot be read (or other prediction types) get ``output``
    unchanged.
    """
    coef = alpha_sigma(sched, t)
    kind = getattr(sched.config, "prediction_type", "epsilon")
    if coef is None or kind not in ("epsilon", "v_prediction") or coef[1] <= 0:
        return output
    a, s = coef
    sigma_form = float(getattr(sched, "init_noise_sigma", 1.0)) > 1.0
    if kind == "v_prediction" and sigma_form:
        return output
    x = latents.float()
    if kind == "v_prediction":
        x0 = a * x - s * output.float()
    else:
        x0 = (x - s * output.float()) / a
    if fusion.refine is not None:
        fusion.target, fusion.refine = fusion.refine(x0), None
    x0 = blend_compensated(x0, fusion.target, fusion.mask).float()
    eps = (x - a * x0) / s
    if kind == "v_prediction":
        return (a * eps - s * x0).to(output.dtype)
    return eps.to(output.dtype)
