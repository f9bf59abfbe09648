"""Pick an upscaler from the ``--upscaler`` word: a built-in name or a model file path."""

from __future__ import annotations

from pathlib import Path

from vidx.errors import OptionError
from vidx.upscale.base import Upscaler
from vidx.upscale.classic import INTERPOLATION, ClassicUpscaler

LEARNED = ("esrgan", "esrgan-anime")
NAMES = (*INTERPOLATION, *LEARNED)


def make_upscaler(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    tile: int | None = None,
    allow_pickle: bool = False,
) -> Upscaler:
    """``lanczos``/``bicubic``, ``esrgan``/``esrgan-anime`` (embedded weights) or a path to any
    spandrel-supported model file."""
    if name in INTERPOLATION:
        return ClassicUpscaler(name)
    if name in LEARNED:
        from vidx.upscale.esrgan import load_esrgan

        return load_esrgan(name, device=device, dtype=dtype, tile=tile)
    looks_like_path = any(c in name for c in "/\\.") or Path(name).exists()
    if looks_like_path:
        from vidx.upscale.user_model import ModelFileUpscaler

        return ModelFileUpscaler(
            Path(name), allow_pickle=allow_pickle, device=device, dtype=dtype, tile=tile
        )
    raise OptionError(
        f"--upscaler must be one of {', '.join(NAMES)} or a model file path, got {name!r}"
    )
