"""The upscaler registry is the one list of built-in names: each builds, each is described."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from vidx.errors import OptionError
from vidx.upscale.classic import INTERPOLATION
from vidx.upscale.factory import make_upscaler
from vidx.upscale.registry import NAMES, REGISTRY, list_models, model_files


def test_names_are_the_registry() -> None:
    assert NAMES == tuple(REGISTRY)
    assert {"lanczos", "bicubic", "esrgan", "esrgan-anime", "esrgan-anime-x4plus"} <= set(NAMES)
    classical = {n for n, info in REGISTRY.items() if info.kind == "classical"}
    assert classical == set(INTERPOLATION)


@pytest.mark.parametrize("name", NAMES)
def test_every_name_builds_and_upscales(name: str) -> None:
    upscaler = make_upscaler(name, device="cpu", tile=0)
    assert upscaler.name == name
    image = np.ascontiguousarray(data.chelsea()[100:116, 200:220])
    out = upscaler(image, (80, 64))
    assert out.shape == (64, 80, 3) and out.dtype == np.uint8
    info = REGISTRY[name]
    if info.kind == "embedded":
        assert upscaler.describe()["weights"] == info.weights
        assert info.scales is not None and max(info.scales) == upscaler.describe()["scale"]


def test_anime_x4plus_is_selectable() -> None:
    upscaler = make_upscaler("esrgan-anime-x4plus", device="cpu", tile=0)
    assert upscaler.describe()["weights"] == "REALESRGAN_X4PLUSANIME_UP4X"


def test_list_has_sizes_and_licences() -> None:
    models = list_models()
    assert [m.name for m in models] == list(NAMES)
    for m in models:
        assert m.description and m.licence
        if m.kind == "classical":
            assert m.size_mb is None and m.scales is None and m.weights is None
        else:
            assert m.weights is not None
            param, weights = model_files(m.weights)
            expected = (param.stat().st_size + weights.stat().st_size) / 1e6
            assert m.size_mb == pytest.approx(expected, abs=0.05)
            assert "BSD-3-Clause" in m.licence and "MIT" in m.licence
    sizes = {m.name: m.size_mb for m in models}
    assert sizes["esrgan"] > sizes["esrgan-anime-x4plus"] > sizes["esrgan-anime"] > 1


def test_unknown_name_lists_the_registry() -> None:
    with pytest.raises(OptionError) as caught:
        make_upscaler("esrgan-ultra")
    for name in NAMES:
        assert name in str(caught.value)
