"""The pieces of an img2img run over a pipeline's components: prompt, VAE, schedule, UNet loop.

diffusers' img2img pipelines take no start latent, so vidx runs its own compact loop over
``pipe.unet``, ``pipe.vae``, ``pipe.scheduler`` and ``pipe.encode_prompt``.
Convention: latents are ``(B, 4, h, w)`` already multiplied by the VAE scaling factor,
``h = H / pipe.vae_scale_factor``; images are ``(H, W, 3)`` uint8.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vidx.options import CFG_MODES, CFG_NEGATIVES
from vidx.restyle.diffusion.x0_fusion import X0Fusion, alpha_sigma, fuse_prediction

if TYPE_CHECKING:
    from vidx.restyle.diffusion.control import ControlNetGuide


@dataclass
class Conditioning:
    """Text conditioning for the UNet, uncond half first when ``cfg``.

    ``use_cfg`` None means classifier-free guidance whenever ``guidance > 1``.
    ``timestep_cond`` is the guidance embedding of guidance-distilled (LCM) UNets.
    ``control``: a ControlNet whose residuals go into every UNet call (``control.py``).
    ``residual`` (with ``cfg``) replaces the negative half of each UNet call by the residual
    negative of :class:`ResidualNegative`: one batch row per step instead of two.
    """

    embeds: torch.Tensor
    guidance: float
    added: dict | None = None
    timestep_cond: torch.Tensor | None = None
    use_cfg: bool | None = None
    control: ControlNetGuide | None = None
    residual: str = ""  # "" (full CFG), "self" or "once": residual CFG's negative (RCFG)

    @property
    def cfg(self) -> bool:
        return self.guidance > 1.0 if self.use_cfg is None else self.use_cfg


def has_guidance_embedding(pipe) -> bool:
    """Whether the UNet takes guidance as an embedding (``time_cond_proj_dim``: LCM-distilled)."""
    return getattr(pipe.unet.config, "time_cond_proj_dim", None) is not None


@dataclass
class Pull:
    """Pull toward ``target`` (clean latent), renoised with ``noise``, inside ``mask``
    (``(1, 1, h, w)`` float in [0, 1], already times the pull weight), for ``steps`` steps."""

    target: torch.Tensor
    noise: torch.Tensor
    mask: torch.Tensor
    steps: int


@dataclass
class Keep:
    """Inpainting-style latent blend (as diffusers' inpaint pipeline does for UNets without
    inpaint channels): after every step the latent inside ``mask`` (``(1, 1, h, w)`` float,
    1 = keep the source) is replaced by the ``source`` latent (clean) noised with ``noise`` to
    the next timestep, and by the clean ``source`` after the last, so the restyled part grows
    around a kept part that stays the source and the seam is denoised with it. With ``steps``,
    only after the first ``steps`` steps: the kept part then starts denoising at that
    timestep, as a shorter img2img would (a lower strength for part of the latent)."""

    source: torch.Tensor
    noise: torch.Tensor
    mask: torch.Tensor
    steps: int | None = None

    def blend(self, pipe, latents: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """``latents`` with the kept part at timestep ``t`` (None: clean)."""
        ref = self.source if t is None else renoise(pipe, self.source, self.noise, t)
        return latents + self.mask.to(latents.dtype) * (ref.to(latents.dtype) - latents)


def is_sdxl(pipe) -> bool:
    return hasattr(pipe, "text_encoder_2")


def encode_conditioning(
    pipe,
    prompt: str,
    negative: str,
    guidance: float,
    size: tuple[int, int],
    *,
    cfg_with_embedding: bool = False,
    mode: str = "full",
    negative_source: str = "self",
) -> Conditioning:
    """Encode the prompts once; ``size`` is the working ``(H, W)`` (SDXL time ids use it).

    A UNet with a guidance embedding (LCM-distilled, ``time_cond_proj_dim``) gets ``guidance``
    through the embedding (``w = guidance - 1``, as diffusers does) and no classifier-free
    guidance, unless ``cfg_with_embedding``; any other UNet gets classifier-free guidance when
    ``guidance > 1``. ``mode`` picks the guidance where there is some: ``"full"`` (a negative
    batch row every step), ``"residual"`` (RCFG with ``negative_source`` ``"self"`` or
    ``"once"``, see :class:`ResidualNegative`) or ``"none"`` (never classifier-free guidance).
    """
    if mode not in CFG_MODES:
        raise ValueError(f"mode must be one of {', '.join(CFG_MODES)}, got {mode!r}")
    if negative_source not in CFG_NEGATIVES:
        raise ValueError(f"negative_source must be self or once, got {negative_source!r}")
    device = pipe.unet.device
    embedded = has_guidance_embedding(pipe)
    cfg = mode != "none" and guidance > 1.0 and (cfg_with_embedding or not embedded)
    added = None
    if is_sdxl(pipe):
        pos, neg, pooled, neg_pooled = pipe.encode_prompt(
            prompt, None, device, 1, cfg, negative or None, None
        )
        h, w = size
        proj = pipe.text_encoder_2.config.projection_dim
        aes, neg_aes = pipe._get_add_time_ids(
            (h, w),
            (0, 0),
            (h, w),
            6.0,
            2.5,
            (h, w),
            (0, 0),
            (h, w),
            dtype=pos.dtype,
            text_encoder_projection_dim=proj,
        )
        text, ids = pooled, aes
        if cfg:
            text, ids = torch.cat([neg_pooled, pooled]), torch.cat([neg_aes, aes])
        added = {"text_embeds": text.to(device), "time_ids": ids.to(device)}
    else:
        pos, neg = pipe.encode_prompt(prompt, device, 1, cfg, negative or None)
    embeds = torch.cat([neg, pos]) if cfg else pos
    tcond = None
    if embedded:
        proj_dim = pipe.unet.config.time_cond_proj_dim
        gs = torch.tensor([guidance - 1.0])
        tcond = pipe.get_guidance_scale_embedding(gs, embedding_dim=proj_dim)
        tcond = tcond.to(device=device, dtype=embeds.dtype)
    residual = negative_source if cfg and mode == "residual" else ""
    return Conditioning(embeds, guidance, added, tcond, use_cfg=cfg, residual=residual)


def _vae_dtype(pipe) -> torch.dtype:
    return next(pipe.vae.parameters()).dtype


@torch.no_grad()
def encode_image(pipe, image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> latent ``(1, 4, H/f, W/f)`` (posterior mean, scaled)."""
    vae = pipe.vae
    x = torch.from_numpy(np.ascontiguousarray(image)).to(vae.device)
    x = x.permute(2, 0, 1)[None].to(_vae_dtype(pipe)) / 127.5 - 1.0
    encoded = vae.encode(x)
    # AutoencoderKL gives a distribution (its mean is taken), AutoencoderTiny the latent itself
    dist = getattr(encoded, "latent_dist", None)
    latent = dist.mean if dist is not None else encoded.latents
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return ((latent - shift) * vae.config.scaling_factor).to(pipe.unet.dtype)


@torch.no_grad()
def decode_latent(pipe, latent: torch.Tensor) -> np.ndarray:
    """Latent ``(1, 4, h, w)`` -> ``(h*f, w*f, 3)`` uint8."""
    return decode_latents(pipe, latent[:1])[0]


@torch.no_grad()
def decode_latents(pipe, latents: torch.Tensor) -> np.ndarray:
    """Latents ``(B, 4, h, w)`` -> ``(B, h*f, w*f, 3)`` uint8, in one VAE call."""
    vae = pipe.vae
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    z = latents.to(_vae_dtype(pipe)) / vae.config.scaling_factor + shift
    x = vae.decode(z).sample.float()
    x = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def tail_steps(steps: int, strength: float) -> int:
    """How many of ``steps`` an img2img at ``strength`` runs (at least one)."""
    return max(1, min(int(steps * strength), steps))


def schedule(pipe, steps: int, strength: float) -> torch.Tensor:
    """Set the scheduler for ``steps`` and return the img2img tail for ``strength``
    (``int(steps * strength)`` timesteps, at least one)."""
    sched = pipe.scheduler
    sched.set_timesteps(steps, device=pipe.unet.device)
    n = tail_steps(steps, strength)
    start = (steps - n) * sched.order
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(start)
    return sched.timesteps[start:]


def rearm(pipe, steps: int, timesteps: torch.Tensor) -> None:
    """Set the scheduler up again for ``timesteps`` (the tail of ``steps`` that ``schedule``
    returned), so a second denoise over them (another box of the same frame, ``crops``)
    starts where the first did: schedulers that count their steps (Euler) would go on."""
    sched = pipe.scheduler
    sched.set_timesteps(steps, device=pipe.unet.device)
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(len(sched.timesteps) - len(timesteps))


def renoise(pipe, latent: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The scheduler's forward process: ``latent`` noised to timestep ``t``."""
    return pipe.scheduler.add_noise(latent, noise.to(latent.dtype), t.reshape(1))


class UNetCounter:
    """Counts UNet forward calls (a classifier-free-guidance batch is one call) and the batch
    rows they carried (``rows``: the work; full guidance is two rows a step, residual one)."""

    def __init__(self, unet) -> None:
        self.calls = 0
        self.rows = 0
        self._handle = unet.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        self.calls += 1
        self.rows += int(args[0].shape[0]) if args else 1

    def close(self) -> None:
        self._handle.remove()


class ResidualNegative:
    """The negative half of residual classifier-free guidance (StreamDiffusion's RCFG,
    Kodaira et al. 2023), for one frame: no negative batch row on most steps.

    ``x_t = a x0 + s eps`` (``a``, ``s`` the scheduler's at ``t``). The negative prediction is
    the noise that leads from ``x_t`` back to ``source``: ``(x_t - a source) / s`` (as v for
    v-prediction models). Self-negative (``once`` False): ``source`` is the latent the frame
    started from before it was noised (on the first step this is exactly the noise added), so
    guidance pushes away from the input toward the prompt at no UNet cost. One-time negative
    (``once``): the first step runs the real negative and keeps the clean latent it points to.
    """

    def __init__(self, source: torch.Tensor, once: bool = False) -> None:
        self.source = source.float()
        self.pending = once

    def output(self, sched, latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor | None:
        """The negative model output at ``t``; None where the scheduler's form is unknown."""
        coef = _model_form(sched, t)
        if coef is None:
            return None
        a, s, kind = coef
        eps = (latents.float() - a * self.source) / s
        out = a * eps - s * self.source if kind == "v_prediction" else eps
        return out.to(latents.dtype)

    def keep(self, sched, latents: torch.Tensor, t: torch.Tensor, uncond: torch.Tensor) -> None:
        """Keep the clean latent the real negative ``uncond`` points to (one-time negative)."""
        self.pending = False
        coef = _model_form(sched, t)
        if coef is None:
            return
        a, s, kind = coef
        x, out = latents.float(), uncond.float()
        self.source = a * x - s * out if kind == "v_prediction" else (x - s * out) / a


def _model_form(sched, t: torch.Tensor) -> tuple[float, float, str] | None:
    """``(a, s, prediction_type)`` where the residual negative is defined, else None."""
    coef = alpha_sigma(sched, t)
    kind = getattr(sched.config, "prediction_type", "epsilon")
    sigma_form = float(getattr(sched, "init_noise_sigma", 1.0)) > 1.0
    if coef is None or coef[1] <= 0 or kind not in ("epsilon", "v_prediction"):
        return None
    if kind == "v_prediction" and sigma_form:
        return None
    return coef[0], coef[1], kind


def _positive(value: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """The positive half of an encoded pair (a tensor, or the IP-Adapter's list of them)."""
    if isinstance(value, list):
        return [v.chunk(2)[1] for v in value]
    return value.chunk(2)[1]


def _rows(value: torch.Tensor | list[torch.Tensor], reps: int, halves: int):
    """Each of the ``halves`` of an encoded value (a tensor, or the IP-Adapter's list of
    them) repeated for ``reps`` rows of a batch, half-major."""
    if isinstance(value, list):
        return [_rows(v, reps, halves) for v in value]
    return torch.cat([h.expand(reps, *h.shape[1:]) for h in value.chunk(halves)])


def _unet(pipe, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning, both: bool):
    """One UNet call; ``both``: negative and positive rows (``cond.cfg``), else positive only."""
    b = latents.shape[0]
    x = torch.cat([latents] * 2) if both else latents
    x = pipe.scheduler.scale_model_input(x, t)
    embeds, added = cond.embeds, cond.added
    if cond.cfg and not both:  # residual guidance: the positive half of the encoded pair
        embeds = embeds.chunk(2)[1]
        if added is not None:
            added = {k: _positive(v) for k, v in added.items()}
    reps = b if embeds.shape[0] == (2 if both else 1) else 1
    if reps > 1:  # a batch of tiles or boxes shares one prompt
        halves = 2 if both else 1
        embeds = _rows(embeds, reps, halves)
        if added is not None:
            added = {k: _rows(v, reps, halves) for k, v in added.items()}
    tcond = cond.timestep_cond
    if tcond is not None and tcond.shape[0] != x.shape[0]:
        tcond = tcond.expand(x.shape[0], -1)
    control = {}
    if cond.control is not None:  # residuals for the batch actually sent (``both`` or not)
        control = cond.control.residuals(x, t, embeds, tcond, added, both)
    return pipe.unet(
        x,
        t,
        encoder_hidden_states=embeds,
        timestep_cond=tcond,
        added_cond_kwargs=added,
        return_dict=False,
        **control,
    )[0]


def predict_noise(
    pipe,
    latents: torch.Tensor,
    t: torch.Tensor,
    cond: Conditioning,
    negative: ResidualNegative | None = None,
):
    """One UNet call with classifier-free guidance; ``latents`` is ``(B, 4, h, w)``.

    With ``cond.residual`` and a ``negative``, the call has the positive rows only and the
    negative comes from ``negative`` (except a one-time negative's first step)."""
    residual = cond.cfg and bool(cond.residual) and negative is not None
    if residual and negative is not None and not negative.pending:
        neg = negative.output(pipe.scheduler, latents, t)
        if neg is not None:
            text = _unet(pipe, latents, t, cond, both=False)
            return neg + cond.guidance * (text - neg)
    out = _unet(pipe, latents, t, cond, both=cond.cfg)
    if cond.cfg:
        uncond, text = out.chunk(2)
        if residual and negative is not None:
            negative.keep(pipe.scheduler, latents, t, uncond)
        out = uncond + cond.guidance * (text - uncond)
    return out


Predictor = Callable[..., torch.Tensor]  # (pipe, latents, t, cond[, negative]) -> output


@dataclass
class Steering:
    """What steers each scheduler step of :func:`denoise` besides the conditioning, all
    optional: ``pull`` moves the latent toward ``add_noise(pull.target, pull.noise, t)`` by
    ``pull.mask`` for the first ``pull.steps`` steps before the UNet sees it; ``x0_fusion``
    blends the prediction's x̂0 with its target inside its mask for its first steps
    (``x0_fusion.fuse_prediction``); ``keep`` holds the kept part at the source's latent at
    every step (:class:`Keep`); ``negative`` (residual guidance) is passed on to the predictor;
    ``on_step(i, t)`` runs before each UNet call (cross-frame attention keys on ``t``)."""

    pull: Pull | None = None
    x0_fusion: X0Fusion | None = None
    keep: Keep | None = None
    negative: ResidualNegative | None = None
    on_step: Callable[[int, torch.Tensor], None] | None = None


@torch.no_grad()
def denoise(
    pipe,
    latents: torch.Tensor,
    timesteps: torch.Tensor,
    cond: Conditioning,
    steering: Steering | None = None,
    *,
    predict: Predictor = predict_noise,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run the scheduler from noisy ``latents`` over ``timesteps``; returns the clean latent,
    each step steered as ``steering`` says (:class:`Steering`)."""
    s = steering or Steering()
    sched = pipe.scheduler
    step_kwargs = {}
    if generator is not None and "generator" in inspect.signature(sched.step).parameters:
        step_kwargs["generator"] = generator
    for i, t in enumerate(timesteps):
        if s.pull is not None and i < s.pull.steps:
            target = renoise(pipe, s.pull.target, s.pull.noise, t)
            latents = latents + s.pull.mask.to(latents.dtype) * (target - latents)
        if s.on_step is not None:
            s.on_step(i, t)
        if cond.control is not None:
            cond.control.at_step(i, len(timesteps))
        if s.negative is None:
            eps = predict(pipe, latents, t, cond)
        else:
            eps = predict(pipe, latents, t, cond, s.negative)
        if s.x0_fusion is not None and i < s.x0_fusion.steps:
            eps = fuse_prediction(sched, latents, eps, t, s.x0_fusion)
        latents = sched.step(eps, t, latents, **step_kwargs, return_dict=False)[0]
        if s.keep is not None and (s.keep.steps is None or i < s.keep.steps):
            following = timesteps[i + 1] if i + 1 < len(timesteps) else None
            latents = s.keep.blend(pipe, latents, following)
    return latents
