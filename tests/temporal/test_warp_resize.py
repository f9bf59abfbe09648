from __future__ import annotations

import numpy as np
import pytest
import torch

import temporal
from temporal.errors import TemporalError


def _const_flow(h: int, w: int, dx: float, dy: float) -> np.ndarray:
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = dx, dy
    return f


def test_integer_flow_is_a_shift(photos):
    img = photos["chelsea"][:64, :80]
    out = temporal.warp(img, _const_flow(64, 80, 3, -2))
    # out[y, x] = img[y - 2, x + 3]
    np.testing.assert_array_equal(out[2:, :-3], img[:-2, 3:])
    assert out.dtype == np.uint8 and out.shape == img.shape


def test_zero_flow_is_identity(photos):
    img = photos["coffee"][:50, :70]
    np.testing.assert_array_equal(temporal.warp(img, _const_flow(50, 70, 0, 0)), img)
    f = img.astype(np.float32) / 255
    np.testing.assert_array_equal(temporal.warp(f, _const_flow(50, 70, 0, 0)), f)
    gray = img[:, :, 0]
    assert temporal.warp(gray, _const_flow(50, 70, 1, 0)).shape == gray.shape


def test_many_channels_and_float64():
    rng = np.random.default_rng(0)
    lat = rng.standard_normal((12, 16, 6))
    out = temporal.warp(lat, _const_flow(12, 16, 1, 1))
    assert out.dtype == np.float64 and out.shape == lat.shape
    np.testing.assert_allclose(out[:-1, :-1], lat[1:, 1:], atol=1e-6)


def test_tensor_warp_matches_numpy(photos):
    rng = np.random.default_rng(1)
    img = photos["astronaut"][100:140, 200:248].astype(np.float32) / 255
    flow = rng.uniform(-3, 3, (40, 48, 2)).astype(np.float32)
    flow = np.round(flow * 2) / 2  # half-pixel steps: exact for cv2.remap's 1/32 grid too
    ref = temporal.warp(img, flow)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    for f in (flow, torch.from_numpy(flow).permute(2, 0, 1)[None]):
        out = temporal.warp(t, f)
        assert out.shape == t.shape and out.dtype == t.dtype
        np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)
    batch = temporal.warp(t.expand(2, -1, -1, -1), flow)
    np.testing.assert_allclose(batch[1].permute(1, 2, 0).numpy(), ref, atol=1e-5)


def test_tensor_integer_shift_uint8():
    t = torch.arange(5 * 6, dtype=torch.uint8).reshape(1, 1, 5, 6)
    out = temporal.warp(t, _const_flow(5, 6, 2, 1))
    assert out.dtype == torch.uint8
    torch.testing.assert_close(out[0, 0, :-1, :-2], t[0, 0, 1:, 2:])


def test_resize_flow_rescales_vectors():
    f = _const_flow(64, 96, 8.0, -4.0)
    small = temporal.resize_flow(f, (8, 12))
    assert small.shape == (8, 12, 2)
    np.testing.assert_allclose(small[..., 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(small[..., 1], -0.5, atol=1e-6)
    big = temporal.resize_flow(small, (16, 48))
    np.testing.assert_allclose(big[..., 0], 4.0, atol=1e-5)
    np.testing.assert_allclose(big[..., 1], -1.0, atol=1e-5)
    t = torch.from_numpy(f).permute(2, 0, 1)[None]
    ts = temporal.resize_flow(t, (8, 12))
    np.testing.assert_allclose(ts[0].permute(1, 2, 0).numpy(), small, atol=1e-5)


def test_resize_flow_of_a_zoom_stays_a_zoom():
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32)
    f = np.dstack([(xs - 31.5) * 0.1, (ys - 31.5) * 0.1])
    small = temporal.resize_flow(f, (8, 8))
    ys8, xs8 = np.mgrid[0:8, 0:8].astype(np.float32)
    np.testing.assert_allclose(small[..., 0], (xs8 - 3.5) * 0.1, atol=1e-5)


def test_resize_mask():
    m = np.zeros((16, 16), bool)
    m[:, :9] = True  # columns 0..8
    small = temporal.resize_mask(m, (2, 2))
    np.testing.assert_array_equal(small, [[True, False], [True, False]])
    half = np.zeros((8, 8), bool)
    half[:, :2] = True
    assert not temporal.resize_mask(half, (1, 2)).any()  # 2/4 covered is not > 0.5
    assert temporal.resize_mask(half, (1, 2), threshold=0.4)[0, 0]
    big = temporal.resize_mask(small, (16, 16))
    assert big.dtype == bool and big[:, :8].all() and not big[:, 8:].any()
    tm = temporal.resize_mask(torch.from_numpy(m), (2, 2))
    np.testing.assert_array_equal(tm.numpy(), small)


def test_bad_arguments_name_themselves():
    with pytest.raises(TemporalError, match="size"):
        temporal.resize_flow(np.zeros((4, 4, 2), np.float32), (0, 3))
    with pytest.raises(ValueError, match="flow"):
        temporal.warp(np.zeros((4, 4), np.uint8), np.zeros((4, 5, 2), np.float32))
    with pytest.raises(ValueError, match="flow"):
        temporal.warp(np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32))
