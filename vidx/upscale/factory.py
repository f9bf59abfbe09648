"""Build an upscaler from the ``upscaler`` option: a registry name or a model file path."""

from __future__ import annotations

from pathlib import Path

from vidx.errors import OptionError
from vidx.upscale.base import Upscaler
from vidx.upscale.registry import NAMES, REGISTRY


def make_upscaler(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    tile: int | None = None,
    allow_pickle: bool = False,
    compile: bool = False,
) -> Upscaler:
    """A registry name (see :data:`NAMES`) or a path to any spandrel-supported model file;
    ``compile``: run a learned model under ``torch.compile``."""
    info = REGISTRY.get(name)
    if info is not None and info.kind == "classical":
        from vidx.upscale.classic import ClassicUpscaler

        return ClassicUpscaler(name)
    if info is not None:
        from vidx.upscale.esrgan import load_esrgan

        return load_esrgan(name, device=device, dtype=dtype, tile=tile, compile=compile)
    looks_like_path = any(c in name for c in "/\\.") or Path(name).exists()
    if looks_like_path:
        from vidx.upscale.user_model import ModelFileUpscaler

        return ModelFileUpscaler(
            Path(name),
            allow_pickle=allow_pickle,
            device=device,
            dtype=dtype,
            tile=tile,
            compile=compile,
        )
    raise OptionError(
        f"must be one of {', '.join(NAMES)} or a model file path, got {name!r}", param="upscaler"
    )


def steadied(upscaler: Upscaler, temporal: bool) -> Upscaler:
    """``upscaler`` made steady over time (``vidx.upscale.steady``) when ``temporal`` and it is
    a learned one (a classical resampler invents nothing to shimmer); as it is otherwise. Each
    output gets its own: the stabiliser holds that output's frames."""
    from vidx.upscale.user_model import SpandrelUpscaler

    if not temporal or not isinstance(upscaler, SpandrelUpscaler):
        return upscaler
    from vidx.upscale.steady import SteadyUpscaler

    return SteadyUpscaler(upscaler)
