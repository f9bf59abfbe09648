"""Build a restyle backend (and the diffusion refine) from the restyle options.

Every face (CLI, job files, the Python API, preview) ends here with a
:class:`vidx.options.RestyleOptions`, so each accepts the same knobs with the same checks.
"""

from __future__ import annotations

from pathlib import Path

from vidx.options import DeviceOptions, RestyleOptions, parse_lora
from vidx.prompt_schedule import transition_frames
from vidx.restyle.base import Resizer, Restyler

# flat option name -> the DiffusionOptions field it sets, where they differ (the reuse-mask
# knobs are ``--reuse-*`` so that ``--mask``/``--mask-feather`` can be the restyle region's)
DIFFUSION_FIELDS = {
    "reuse_dilate": "mask_dilate",
    "reuse_feather": "mask_feather",
    "reuse_open": "mask_open",
}


def make_restyler(spec: RestyleOptions, device: DeviceOptions = DeviceOptions()) -> Restyler:
    """The backend ``spec`` asks for, ready to take frames."""
    if spec.backend == "style":
        from vidx.restyle.style import StyleRestyler

        return StyleRestyler(
            str(spec.style) if spec.style is not None else "0",
            style_image=Path(spec.style_image) if spec.style_image else None,
            strength=1.0 if spec.strength is None else spec.strength,
            temporal=spec.temporal,
            temporal_weight=spec.temporal_weight,
            device=device.device,
            max_side=spec.work_size or 1024,
        )
    from vidx.restyle.diffusion import DiffusionRestyler

    return DiffusionRestyler(diffusion_options(spec, device))


def diffusion_options(spec: RestyleOptions, device: DeviceOptions = DeviceOptions()):
    """The diffusion backend's own options (``DiffusionOptions``, imported lazily)."""
    from vidx.restyle.diffusion import DiffusionOptions

    on, t = spec.temporal, spec.diffusion_temporal
    return DiffusionOptions(
        model=spec.model or "",
        prompt=spec.prompt or "",
        negative_prompt=spec.negative_prompt,
        strength=0.5 if spec.strength is None else spec.strength,
        steps=spec.steps,
        guidance=spec.guidance,
        scheduler=spec.scheduler,
        seed=spec.seed,
        work_size=spec.work_size or 512,
        device=device.device,
        dtype=device.dtype,
        allow_pickle=device.allow_pickle,
        latent_blend=on and t.latent_blend,
        warp_noise=on and t.warp_noise,
        pull=on and t.pull,
        pull_steps=t.pull_steps,
        cross_frame_attn=on and t.cross_frame_attn,
        color_anchor=on and t.color_anchor,
        reuse_strength=min(t.reuse_strength, 0.5 if spec.strength is None else spec.strength),
        compile=spec.compile,
        noise_warp=t.noise_warp,
        noise_subcells=t.noise_subcells,
        lcm_cfg=t.lcm_cfg,
        fusion=t.fusion,
        fusion_steps=t.fusion_steps,
        fusion_weight=t.fusion_weight if on else 0.0,
        anchor_keyframes=on and t.anchor_keyframes,
        mask_dilate=t.reuse_dilate,
        mask_feather=t.reuse_feather,
        mask_open=t.reuse_open,
        pixel_fusion=t.pixel_fusion,
        pixel_fusion_weight=t.pixel_fusion_weight,
        propagate=on and t.propagate,
        color_match=t.color_match,
        cross_frame_blocks=t.cross_frame_blocks,
        cfg=spec.cfg,
        cfg_negative=spec.cfg_negative,
        similarity_threshold=t.similarity_threshold,
        max_skip=t.max_skip,
        skip_covered=t.skip_covered if on and t.propagate else 0.0,
        vae=str(spec.vae) if spec.vae else "",
        lora=tuple(parse_lora(text) for text in spec.lora),
        prompt_schedule=spec.prompt_schedule,
        prompt_transition=transition_frames(spec.prompt_transition, None),
        prompt_interpolation=spec.prompt_interpolation,
        ip_adapter=spec.ip_adapter,
        style_image=spec.style_image if spec.ip_adapter else None,
        ip_adapter_scale=spec.ip_adapter_scale,
        **control_options(spec),
    )


def control_options(spec: RestyleOptions) -> dict:
    """The ControlNet keywords of ``DiffusionOptions`` (none without ``--controlnet``)."""
    c = spec.diffusion_control
    if not c.controlnet:
        return {}
    return dict(
        controlnet=c.controlnet,
        control=c.control,
        control_strength=c.control_strength,
        control_start=c.control_start,
        control_end=c.control_end,
        control_guess=c.control_guess,
        depth_model=c.depth_model or "",
    )


def with_refine(
    upscaler: Resizer,
    spec: RestyleOptions,
    restyler: Restyler | None,
    device: DeviceOptions = DeviceOptions(),
) -> Resizer:
    """Wrap ``upscaler`` with the diffusion detail refine when ``spec.refine_strength`` > 0,
    sharing the restyler's loaded pipeline."""
    if not spec.refine_strength:
        return upscaler
    from vidx.restyle.diffusion import DiffusionRefiner, RefineUpscaler

    pipe = getattr(restyler, "pipe", None)
    refiner = DiffusionRefiner(
        diffusion_options(spec, device),
        strength=spec.refine_strength,
        reuse_strength=min(
            spec.refine_strength,
            spec.diffusion_temporal.reuse_strength * spec.refine_strength / 0.5,
        ),
        pipe=pipe,
    )
    return RefineUpscaler(upscaler, refiner)
