from __future__ import annotations

import numpy as np
import pytest
import torch

import temporal


def _noise(shape=(1, 4, 48, 64), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _const_flow(h, w, dx, dy):
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = dx, dy
    return f


def test_follows_a_translation_exactly():
    n = _noise()
    out = temporal.warp_noise(n, _const_flow(48, 64, 3, -2), None, torch.Generator().manual_seed(1))
    # out[y, x] = n[y - 2, x + 3] wherever that lies inside
    torch.testing.assert_close(out[:, :, 2:, :-3], n[:, :, :-2, 3:], rtol=0, atol=0)
    # where the source falls outside, the noise is fresh (not a copy of the border)
    assert not torch.equal(out[:, :, :2, :], n[:, :, :2, :])


def test_subpixel_flow_rounds_to_nearest_source():
    n = _noise()
    out = temporal.warp_noise(n, _const_flow(48, 64, 1.4, 0.6), None, torch.Generator())
    torch.testing.assert_close(out[:, :, :-1, :-1], n[:, :, 1:, 1:], rtol=0, atol=0)


def test_statistics_stay_standard_normal():
    n = _noise((2, 4, 64, 64))
    rng = np.random.default_rng(0)
    flow = rng.uniform(-4, 4, (64, 64, 2)).astype(np.float32)
    mask = rng.random((64, 64)) > 0.3
    for weight in (0.0, 0.3, 1.0):
        out = temporal.warp_noise(n, flow, mask, torch.Generator().manual_seed(2), weight=weight)
        assert out.shape == n.shape and out.dtype == n.dtype
        assert abs(out.mean().item()) < 0.03
        assert abs(out.std().item() - 1.0) < 0.03


def test_mask_false_gives_fresh_noise_and_weight_mixes():
    n = _noise()
    mask = np.zeros((48, 64), bool)
    mask[:, :32] = True
    zero = _const_flow(48, 64, 0, 0)
    out = temporal.warp_noise(n, zero, mask, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out[..., :32], n[..., :32], rtol=0, atol=0)
    fresh = out[..., 32:].flatten()
    assert abs(torch.corrcoef(torch.stack([fresh, n[..., 32:].flatten()]))[0, 1]) < 0.05
    mixed = temporal.warp_noise(n, zero, None, torch.Generator().manual_seed(3), weight=0.5)
    c = torch.corrcoef(torch.stack([mixed.flatten(), n.flatten()]))[0, 1].item()
    assert abs(c - 1 / np.sqrt(2)) < 0.03  # (a n_new + (1-a) n_old) / sqrt(a^2 + (1-a)^2)


def test_half_precision_and_tensor_flow():
    n = _noise().half()
    f = torch.zeros(1, 2, 48, 64)
    f[:, 0] = 1.0
    out = temporal.warp_noise(n, f, torch.ones(48, 64, dtype=torch.bool), torch.Generator())
    assert out.dtype == torch.float16
    torch.testing.assert_close(out[..., :-1], n[..., 1:], rtol=0, atol=0)


def test_bad_arguments():
    n = _noise()
    with pytest.raises(ValueError, match="weight"):
        temporal.warp_noise(n, _const_flow(48, 64, 0, 0), None, None, weight=1.5)
    with pytest.raises(ValueError, match="flow"):
        temporal.warp_noise(n, _const_flow(24, 32, 0, 0), None, None)
    with pytest.raises(ValueError, match="mask"):
        temporal.warp_noise(n, _const_flow(48, 64, 0, 0), np.ones((4, 4), bool), None)
