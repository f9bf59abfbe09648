"""Tiled inference equals untiled inference, with no seam, and tiles fit in memory."""

from __future__ import annotations

import numpy as np
import pytest
import spandrel
import torch
from skimage import data
from spandrel.architectures.Compact import Compact

from vidx.upscale.esrgan import load_esrgan
from vidx.upscale.tiling import (
    CPU_TILE_RANGE,
    compiled_call,
    pick_batch,
    pick_tile,
    resize,
    run_resized,
    run_tiled,
)
from vidx.upscale.user_model import SpandrelUpscaler


def tiny_compact(scale: int) -> spandrel.ImageModelDescriptor:
    """A random 2-conv SRVGGNetCompact (receptive field radius 2) built through spandrel."""
    torch.manual_seed(0)
    net = Compact(num_feat=4, num_conv=1, upscale=scale)
    return spandrel.ModelLoader().load_from_state_dict(net.state_dict())


def boundary_mask(shape: tuple[int, int], cuts_y: list[int], cuts_x: list[int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for y in cuts_y:
        mask[max(0, y - 2) : y + 2] = True
    for x in cuts_x:
        mask[:, max(0, x - 2) : x + 2] = True
    return mask


@pytest.mark.parametrize(("height", "width", "tile"), [(45, 70, 16), (33, 33, 32), (20, 90, 24)])
def test_tiling_is_exact_when_overlap_covers_the_receptive_field(
    height: int, width: int, tile: int
) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    descriptor = tiny_compact(scale=2)
    whole = run_tiled(descriptor, image, tile=0)
    tiled = run_tiled(descriptor, image, tile=tile, overlap=8)
    assert tiled.shape == whole.shape == (2 * height, 2 * width, 3)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1  # float sum of two weights


def test_anime_tiled_matches_untiled_without_seams() -> None:
    image = np.ascontiguousarray(data.astronaut()[::4, ::4][40:104, 30:94])
    upscaler = load_esrgan("esrgan-anime", tile=0)
    whole = run_tiled(upscaler.descriptor, image, tile=0)
    tiled = run_tiled(upscaler.descriptor, image, tile=32, overlap=16)  # 2x2 tiles, cut at 128
    diff = np.abs(tiled.astype(int) - whole.astype(int)).max(axis=2)
    assert diff.max() <= 2
    mask = boundary_mask(diff.shape, [128], [128])
    assert diff[mask].mean() <= 2 * diff[~mask].mean() + 0.02
    # a seam would be a jump across the tile boundary that the untiled output does not have
    for axis in (0, 1):
        jump_tiled = np.abs(np.diff(tiled.astype(int), axis=axis)).take(127, axis=axis).mean()
        jump_whole = np.abs(np.diff(whole.astype(int), axis=axis)).take(127, axis=axis).mean()
        assert abs(jump_tiled - jump_whole) < 0.1


def test_pick_tile_bounds_cpu_tiles() -> None:
    for name in ("esrgan", "esrgan-anime"):
        descriptor = load_esrgan(name, tile=0).descriptor
        tile = pick_tile(descriptor, torch.device("cpu"), torch.float32)
        assert CPU_TILE_RANGE[0] <= tile <= CPU_TILE_RANGE[1] and tile % 32 == 0


def test_resize_hits_the_exact_size() -> None:
    image = np.ascontiguousarray(data.chelsea()[:40, :60])
    assert resize(image, (60, 40)) is image
    assert resize(image, (31, 17)).shape == (17, 31, 3)
    assert resize(image, (181, 95)).shape == (95, 181, 3)


def test_a_16_bit_frame_runs_in_float_and_stays_16_bit() -> None:
    """A source deeper than 8 bits: the model sees the 16-bit values (not an 8-bit rounding)
    and the result keeps 16 bits, tiled or not."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 65536, (24, 40, 3), dtype=np.uint16)
    descriptor = tiny_compact(scale=2)
    whole = run_tiled(descriptor, image, tile=0)
    tiled = run_tiled(descriptor, image, tile=16, overlap=8)
    assert whole.dtype == tiled.dtype == np.uint16 and whole.shape == (48, 80, 3)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 257
    eight = run_tiled(descriptor, (image // 257).astype(np.uint8), tile=0).astype(int) * 257
    assert np.abs(whole.astype(int) - eight).mean() < 2 * 257  # the same picture
    assert len(np.unique(whole)) > 4 * len(np.unique(eight))  # with finer steps


@pytest.mark.parametrize("batch", [2, 3])
def test_batched_tiles_equal_tiles_one_by_one(batch: int) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 100, 3), dtype=np.uint8)
    descriptor = tiny_compact(scale=2)
    calls: list[int] = []

    def counted(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return descriptor(x)

    single = run_tiled(descriptor, image, tile=16, overlap=8)
    batched = run_tiled(descriptor, image, tile=16, overlap=8, batch=batch, call=counted)
    assert np.abs(batched.astype(int) - single.astype(int)).max() <= 1
    assert max(calls) == batch  # equal-shaped interior tiles went through together
    assert sum(calls) == 3 * 7  # every tile exactly once
    assert len(calls) < sum(calls)


def test_pick_batch_is_one_on_the_cpu() -> None:
    assert pick_batch(tiny_compact(scale=2), tile=128) == 1


@pytest.mark.parametrize(("size", "dtype"), [((64, 48), np.uint8), ((50, 30), np.uint16)])
def test_the_device_path_matches_the_host_path(size: tuple[int, int], dtype: type) -> None:
    """The path a GPU takes (model, shrink and quantisation on the model's device, one copy
    to the host), run here on the CPU: equal to model -> host uint8 -> OpenCV area shrink."""
    rng = np.random.default_rng(2)
    peak = 65535 if dtype == np.uint16 else 255
    image = rng.integers(0, peak + 1, (32, 40, 3)).astype(dtype)
    descriptor = tiny_compact(scale=4)
    host = resize(run_tiled(descriptor, image, tile=0), size)
    device = run_resized(descriptor, image, size)
    assert device.shape == (size[1], size[0], 3) and device.dtype == dtype
    diff = np.abs(device.astype(np.float64) - host)
    psnr = 10 * np.log10(peak**2 / max(float(np.mean(diff**2)), 1e-12))
    assert psnr >= 45  # host quantises before the shrink, the device path after


def test_spandrel_upscaler_takes_the_device_path_when_told() -> None:
    descriptor = tiny_compact(scale=4)
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    on = SpandrelUpscaler("t", descriptor, tile=0, on_device=True)
    off = SpandrelUpscaler("t", descriptor, tile=0, on_device=False)
    assert not SpandrelUpscaler("t", descriptor, tile=0).on_device  # CPU default: host resize
    a, b = on(image, (64, 48)), off(image, (64, 48))
    assert a.shape == b.shape == (48, 64, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    assert on.describe()["batch"] == 1 and not on.describe()["compiled"]


def test_compile_wraps_the_network_only_without_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    from spandrel.architectures.ESRGAN import ESRGAN

    compiled: list[torch.nn.Module] = []
    monkeypatch.setattr(torch, "compile", lambda m: compiled.append(m) or m)  # no inductor here
    descriptor = tiny_compact(scale=2)
    compact = SpandrelUpscaler("t", descriptor, tile=0, compile=True)
    assert compiled == [descriptor.model] and compact.describe()["compiled"]
    image = np.random.default_rng(4).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    assert np.array_equal(compact(image, (20, 24)), run_tiled(descriptor, image, tile=0))
    torch.manual_seed(0)
    x2plus = ESRGAN(num_filters=4, num_blocks=1, scale=2, shuffle_factor=2)
    padded = spandrel.ModelLoader().load_from_state_dict(x2plus.state_dict())
    assert not padded.size_requirements.none  # pixel-unshuffle wants even sizes
    assert compiled_call(padded) is None
