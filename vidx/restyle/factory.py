"""Build a restyle backend (and the diffusion refine) from the restyle options.

Every face (CLI, job files, the Python API, preview) ends here with a
:class:`vidx.options.RestyleOptions`, so each accepts the same knobs with the same checks.
"""

from __future__ import annotations

from pathlib import Path

from vidx.options import DIFFUSION_STRENGTH, DeviceOptions, RestyleOptions
from vidx.restyle.base import Resizer, Restyler


def make_restyler(spec: RestyleOptions, device: DeviceOptions = DeviceOptions()) -> Restyler:
    """The backend ``spec`` asks for, ready to take frames; each backend takes the option
    groups as declared and runs them as ``RestyleOptions.resolved`` says."""
    if spec.backend == "style":
        from vidx.restyle.style import StyleRestyler

        run = spec.resolved()
        return StyleRestyler(
            str(run.style) if run.style is not None else "0",
            style_image=Path(run.style_image) if run.style_image else None,
            strength=float(run.strength or 0.0),
            temporal=run.temporal,
            temporal_weight=run.temporal_weight,
            device=device.device,
            max_side=int(run.work_size or 0),
        )
    from vidx.restyle.diffusion import DiffusionRestyler

    return DiffusionRestyler(spec, device)


def with_refine(
    upscaler: Resizer,
    spec: RestyleOptions,
    restyler: Restyler | None,
    device: DeviceOptions = DeviceOptions(),
) -> Resizer:
    """Wrap ``upscaler`` with the diffusion detail refine when ``spec.refine_strength`` > 0,
    sharing the restyler's loaded pipeline. Frames tied to the past refine at the restyle's
    ``reuse_strength`` scaled as ``refine_strength`` is to the restyle's default strength."""
    if not spec.refine_strength:
        return upscaler
    from vidx.restyle.diffusion import DiffusionRefiner, RefineUpscaler

    scale = spec.refine_strength / DIFFUSION_STRENGTH
    refiner = DiffusionRefiner(
        spec,
        device,
        strength=spec.refine_strength,
        reuse_strength=min(spec.refine_strength, spec.diffusion_temporal.reuse_strength * scale),
        pipe=getattr(restyler, "pipe", None),
    )
    return RefineUpscaler(upscaler, refiner)
