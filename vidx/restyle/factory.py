"""Build a restyle backend (and the diffusion refine) from one flat set of settings.

The CLI fills a :class:`RestyleSpec` from its flags and a variants job file from TOML; both end
here, so every entry point accepts the same knobs with the same checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from vidx.errors import OptionError
from vidx.restyle.base import Restyler
from vidx.upscale.base import Upscaler


@dataclass(frozen=True)
class RestyleSpec:
    """Everything ``vidx restyle`` can be told about the restyle itself.

    ``prompt`` selects the diffusion backend, ``style``/``style_image`` the embedded one.
    ``strength`` None means the backend's default (1.0 for style, 0.5 for diffusion).
    ``temporal`` False turns every temporal step off at once.
    """

    style: str | None = None
    style_image: str | None = None
    prompt: str | None = None
    negative_prompt: str = ""
    model: str | None = None
    strength: float | None = None
    steps: int = 20
    guidance: float = 7.5
    scheduler: str = "ddim"
    seed: int = 0
    work_size: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    allow_pickle: bool = False
    temporal: bool = True
    temporal_weight: float = 0.8
    color_anchor: bool = True
    latent_blend: bool = True
    warp_noise: bool = True
    pull: bool = True
    pull_steps: float = 0.5
    cross_frame_attn: bool = True
    reuse_strength: float = 0.35
    refine_strength: float = 0.0
    compile: bool = False

    @property
    def backend(self) -> str:
        return "diffusion" if self.prompt is not None else "style"

    def check(self) -> RestyleSpec:
        if self.prompt is not None and (self.style is not None or self.style_image is not None):
            raise OptionError("give either --prompt (diffusion) or --style/--style-image, not both")
        if self.prompt is None and self.model is not None:
            raise OptionError("--model needs --prompt (the diffusion backend)")
        if self.refine_strength and self.prompt is None:
            raise OptionError("--refine-strength needs --prompt and --model (diffusion refine)")
        if not 0 <= self.refine_strength <= 1:
            raise OptionError(f"--refine-strength must be in [0, 1], got {self.refine_strength}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def with_values(self, values: dict) -> RestyleSpec:
        """A copy with ``values`` (keys are field names) replaced; unknown keys are errors."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionError(f"unknown restyle setting {unknown[0]!r}")
        return replace(self, **values)


def make_restyler(spec: RestyleSpec) -> Restyler:
    """The backend ``spec`` asks for, ready to take frames."""
    spec.check()
    if spec.backend == "style":
        from vidx.restyle.style import StyleRestyler

        return StyleRestyler(
            spec.style if spec.style is not None else "0",
            style_image=Path(spec.style_image) if spec.style_image else None,
            strength=1.0 if spec.strength is None else spec.strength,
            temporal=spec.temporal,
            temporal_weight=spec.temporal_weight,
            device=spec.device,
            max_side=spec.work_size or 1024,
        )
    from vidx.restyle.diffusion import DiffusionRestyler

    return DiffusionRestyler(diffusion_options(spec))


def diffusion_options(spec: RestyleSpec):  # noqa: ANN201 - DiffusionOptions, imported lazily
    from vidx.restyle.diffusion import DiffusionOptions

    on = spec.temporal
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
        device=spec.device,
        dtype=spec.dtype,
        allow_pickle=spec.allow_pickle,
        latent_blend=on and spec.latent_blend,
        warp_noise=on and spec.warp_noise,
        pull=on and spec.pull,
        pull_steps=spec.pull_steps,
        cross_frame_attn=on and spec.cross_frame_attn,
        color_anchor=on and spec.color_anchor,
        reuse_strength=min(spec.reuse_strength, 0.5 if spec.strength is None else spec.strength),
        compile=spec.compile,
    )


def with_refine(upscaler: Upscaler, spec: RestyleSpec, restyler: Restyler | None) -> Upscaler:
    """Wrap ``upscaler`` with the diffusion detail refine when ``spec.refine_strength`` > 0,
    sharing the restyler's loaded pipeline."""
    if not spec.refine_strength:
        return upscaler
    from vidx.restyle.diffusion import DiffusionRefiner, RefineUpscaler

    pipe = getattr(restyler, "pipe", None)
    refiner = DiffusionRefiner(
        diffusion_options(spec),
        strength=spec.refine_strength,
        reuse_strength=min(spec.refine_strength, spec.reuse_strength * spec.refine_strength / 0.5),
        pipe=pipe,
    )
    return RefineUpscaler(upscaler, refiner)
