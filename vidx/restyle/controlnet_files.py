"""Where a ControlNet's (or a depth estimator's) weights are, checked without loading anything.

``jobs.plan()`` calls this before any file is written, so a missing folder, a hub id that is not
in the Hugging Face cache or a pickled checkpoint is a one-line ModelError up front. It imports
neither torch nor diffusers.
"""

from __future__ import annotations

import re
from pathlib import Path

from vidx.errors import ModelError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SAFE_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",  # sharded: the index names the shards
    "model.safetensors.index.json",
)
PICKLE_NAMES = ("diffusion_pytorch_model.bin", "pytorch_model.bin")


def model_folder(value: str, what: str) -> Path:
    """The local folder ``value`` names: a folder with ``config.json``, or a hub id already in
    the Hugging Face cache (nothing is downloaded)."""
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{what} {value!r} is a folder without config.json; expected a diffusers / "
                "transformers model folder (save_pretrained layout)"
            )
        return path
    if path.exists():
        raise ModelError(f"{what} {value!r} is a file; give the model's folder (with config.json)")
    if HUB_ID.match(value) and not value.startswith((".", "~")):
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(value, "config.json")
        if isinstance(config, str):
            return Path(config).parent
        raise ModelError(
            f"{what} {value!r} is not in the Hugging Face cache; vidx downloads nothing: fetch it "
            f"on a machine with network (`hf download {value}`) or pass a local folder"
        )
    raise ModelError(f"{what} {value!r}: no such folder (and not a hub id owner/name)")


def weights_file(folder: Path, what: str, allow_pickle: bool) -> Path:
    """The weights file in ``folder``: safetensors, or a pickled ``.bin`` only with
    ``allow_pickle``."""
    for name in SAFE_NAMES:
        if (folder / name).is_file():
            return folder / name
    for name in PICKLE_NAMES:
        if (folder / name).is_file():
            if allow_pickle:
                return folder / name
            raise ModelError(
                f"{what} {str(folder)!r} has pickled weights ({name}); convert them to "
                ".safetensors, or pass --allow-pickle to load them with weights_only=True"
            )
    raise ModelError(f"{what} {str(folder)!r} has no weights file ({', '.join(SAFE_NAMES)})")


def checked_weights(value: str, what: str, allow_pickle: bool) -> Path:
    """``weights_file(model_folder(value))``: the file a job reads for ``value``."""
    return weights_file(model_folder(value, what), what, allow_pickle)
