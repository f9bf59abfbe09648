"""--upscaler PATH: any spandrel model file, safetensors by default, pickle only when allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data

from vidx.errors import ModelError
from vidx.upscale.esrgan import converted_state_dict, load_esrgan
from vidx.upscale.user_model import ModelFileUpscaler

ANIME = "REALESRGAN_ANIMAVIDEOV3_UP4X"


def anime_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in converted_state_dict(ANIME).items()}


def test_safetensors_file_loads_and_matches_the_embedded_model(tmp_path: Path) -> None:
    path = tmp_path / "anime.safetensors"
    save_file(anime_state(), str(path))
    upscaler = ModelFileUpscaler(path, device="cpu", tile=0)
    assert upscaler.describe()["architecture"] == "Compact"
    assert upscaler.describe()["scale"] == 4
    image = np.ascontiguousarray(data.chelsea()[50:74, 100:132])
    embedded = load_esrgan("esrgan-anime", device="cpu", tile=0)
    assert np.array_equal(upscaler(image, (128, 96)), embedded(image, (128, 96)))
    assert upscaler(image, (50, 40)).shape == (40, 50, 3)


def test_pickle_needs_allow_pickle(tmp_path: Path) -> None:
    path = tmp_path / "anime.pth"
    torch.save({"params": anime_state()}, path)
    with pytest.raises(ModelError, match=r"anime\.pth.*allow-pickle"):
        ModelFileUpscaler(path, device="cpu")
    upscaler = ModelFileUpscaler(path, allow_pickle=True, device="cpu", tile=0)
    assert upscaler.descriptor.scale == 4


def test_pickle_with_code_is_refused_even_when_allowed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(1), "hook": print}, path)
    with pytest.raises(ModelError, match="evil.pt"):
        ModelFileUpscaler(path, allow_pickle=True, device="cpu")


def test_non_model_files_raise_model_error(tmp_path: Path) -> None:
    torch.manual_seed(0)
    random = tmp_path / "random.safetensors"
    save_file({"foo.weight": torch.randn(4, 4), "bar": torch.randn(3)}, str(random))
    with pytest.raises(ModelError, match="random.safetensors.*not recognised"):
        ModelFileUpscaler(random, device="cpu")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ModelError, match="garbage.safetensors"):
        ModelFileUpscaler(garbage, device="cpu")
    with pytest.raises(ModelError, match="does not exist"):
        ModelFileUpscaler(tmp_path / "missing.safetensors")
    odd = tmp_path / "model.onnx"
    odd.write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown suffix"):
        ModelFileUpscaler(odd)
