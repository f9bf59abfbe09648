"""The ncnn -> spandrel conversion reproduces the reference ncnn runtime on a real photo."""

from __future__ import annotations

from pathlib import Path

import ncnn
import numpy as np
import pytest
import spandrel
import torch
from skimage import data

from vidx.errors import ModelError
from vidx.upscale.ncnn_convert import (
    ncnn_to_state_dict,
    read_ncnn,
    read_param,
    trailing_resize,
)
from vidx.upscale.registry import model_files


def ncnn_reference(stem: str, image: np.ndarray) -> np.ndarray:
    """Run the ncnn model on the CPU in fp32: ``(3, h, w)`` float32 in [0, 1] -> ``(3, sh, sw)``."""
    param, weights = model_files(stem)
    net = ncnn.Net()
    for option in (
        "use_fp16_packed",
        "use_fp16_storage",
        "use_fp16_arithmetic",
        "use_bf16_storage",
        "use_vulkan_compute",
    ):
        setattr(net.opt, option, False)
    net.opt.num_threads = 1
    net.load_param(str(param))
    net.load_model(str(weights))
    extractor = net.create_extractor()
    array = np.ascontiguousarray(image)  # ncnn.Mat borrows this buffer: keep it alive
    extractor.input("data", ncnn.Mat(array))
    ret, out = extractor.extract("output")
    assert ret == 0
    return np.array(out).copy()


@pytest.mark.parametrize(
    ("stem", "crop", "arch"),
    [("REALESRGAN_ANIMAVIDEOV3_UP4X", 48, "Compact"), ("REALESRGAN_X4PLUS_UP4X", 24, "ESRGAN")],
)
def test_converted_weights_match_ncnn(stem: str, crop: int, arch: str) -> None:
    image = data.chelsea()[100 : 100 + crop, 200 : 200 + crop].astype(np.float32) / 255
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))
    descriptor = spandrel.ModelLoader().load_from_state_dict(ncnn_to_state_dict(*model_files(stem)))
    assert descriptor.architecture.id == arch and descriptor.scale == 4
    with torch.inference_mode():
        ours = descriptor.model(torch.from_numpy(chw)[None])[0].numpy()
    reference = ncnn_reference(stem, chw)
    assert ours.shape == reference.shape == (3, 4 * crop, 4 * crop)
    assert np.abs(ours - reference).max() < 1e-4


def test_x4plus_keys_follow_spandrel_layout() -> None:
    state = ncnn_to_state_dict(*model_files("REALESRGAN_X4PLUS_UP4X"))
    assert state["conv_first.weight"].shape == (64, 3, 3, 3)
    assert state["body.22.rdb3.conv5.weight"].shape == (64, 64 + 4 * 32, 3, 3)
    assert state["conv_last.weight"].shape == (3, 64, 3, 3)
    assert {"conv_body.bias", "conv_up1.bias", "conv_up2.bias", "conv_hr.bias"} <= set(state)


def test_anime_up2x_up3x_are_up4x_plus_a_resize() -> None:
    base = ncnn_to_state_dict(*model_files("REALESRGAN_ANIMAVIDEOV3_UP4X"))
    assert base["body.1.weight"].shape == (64,)  # PReLU slopes
    assert trailing_resize(read_param(model_files("REALESRGAN_ANIMAVIDEOV3_UP4X")[0])) is None
    for factor in (2, 3):
        stem = f"REALESRGAN_ANIMAVIDEOV3_UP{factor}X"
        state = ncnn_to_state_dict(*model_files(stem))
        assert state.keys() == base.keys()
        assert all(torch.equal(state[k], base[k]) for k in base)
        assert trailing_resize(read_param(model_files(stem)[0])) == pytest.approx(factor / 4)


def test_param_parsing_reads_arrays_and_blobs() -> None:
    layers = read_param(model_files("REALESRGAN_X4PLUS_UP4X")[0])
    assert layers[0].type == "Input" and layers[0].outputs == ["data"]
    fused = next(layer for layer in layers if layer.params.get(9) == 2)
    assert fused.params[10] == [pytest.approx(0.2)]  # leaky-ReLU slope from -23310=1,0.2
    assert layers[-1].outputs == ["output"]


def test_broken_files_raise_model_error(tmp_path: Path) -> None:
    param, weights = model_files("REALESRGAN_ANIMAVIDEOV3_UP4X")
    bad_param = tmp_path / "bad.param"
    bad_param.write_text("123\n1 1\nInput in 0 1 data\n")
    with pytest.raises(ModelError, match="magic"):
        read_param(bad_param)
    short = tmp_path / "short.bin"
    short.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelError, match="ends early"):
        read_ncnn(param, short)
    with pytest.raises(ModelError, match="cannot read"):
        read_ncnn(tmp_path / "missing.param", weights)
