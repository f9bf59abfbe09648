"""The diffusion models that ship inside vidx, by name: ``--model small-sd``.

One registry, read by the loader (a built-in name is looked up before any path or hub id)
and by ``vidx models``. The weights are plain safetensors in a diffusers folder beside this
module; nothing is downloaded. This module imports neither torch nor diffusers, so listing
the models is instant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BuiltinModel:
    """A diffusion model shipped with vidx: its name, folder and what ``vidx models`` shows.

    ``size_mb``: the folder's files in MB (10^6 bytes), filled by :func:`list_builtin`;
    None when the folder is missing (a trimmed install).
    """

    name: str
    folder: Path
    description: str
    licence: str
    size_mb: float | None = None


REGISTRY: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            "small-sd",
            HERE / "small-sd",
            "SD1.x layout, small, trained here on CPU (scripts/train_small_model.py): for "
            "tests and benchmarks, weak prompts; see its MODEL_CARD.md",
            "MIT (trained on scikit-image and opencv-doc photos: public domain, CC0, "
            "Apache-2.0/BSD-3-Clause)",
        ),
    )
}


def builtin_folder(name: str) -> Path | None:
    """The folder of the built-in model ``name`` when it is installed, else None."""
    model = REGISTRY.get(name.strip())
    if model is None or not (model.folder / "model_index.json").is_file():
        return None
    return model.folder


def list_builtin() -> list[BuiltinModel]:
    """Every built-in diffusion model, registry order, with its size on disk."""

    def size(folder: Path) -> float | None:
        if not folder.is_dir():
            return None
        return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1)

    return [replace(m, size_mb=size(m.folder)) for m in REGISTRY.values()]
