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


# integral noise warping: sub-pixel motion adds up and the noise stays i.i.d. N(0, 1)


def _field(shape=(1, 4, 48, 64), seed=0, k=8):
    return temporal.noise_field(_noise(shape, seed), k, torch.Generator().manual_seed(seed + 100))


def _zoom_flow(h, w, factor):
    """Backward flow of a zoom in by ``factor`` about the centre (cur -> prev)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return np.dstack([(xs - cx) * (1 / factor - 1), (ys - cy) * (1 / factor - 1)])


def _shift_by_xcorr(a: torch.Tensor, b: torch.Tensor, max_shift: int = 6) -> float:
    """Horizontal shift d with ``b[x] ~ a[x - d]``: cross-correlation peak, parabolic refine."""
    w = a.shape[-1]
    core = slice(max_shift, w - max_shift)
    c = [
        float((b[..., core] * torch.roll(a, d, dims=-1)[..., core]).mean())
        for d in range(max_shift + 1)
    ]
    i = int(np.argmax(c))
    if 0 < i < max_shift:
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        return i + 0.5 * (c[i - 1] - c[i + 1]) / den if den else float(i)
    return float(i)


def test_conditional_upsampling_keeps_the_latent_noise():
    n = _noise()
    f = temporal.noise_field(n, 8, torch.Generator().manual_seed(1))
    torch.testing.assert_close(f.latent(), n, rtol=0, atol=1e-5)
    assert f.fine.shape == (1, 4, 384, 512)
    assert abs(f.fine.std().item() - 1.0) < 0.01 and abs(f.fine.mean().item()) < 0.01


def test_integral_follows_an_integer_translation_exactly():
    f0 = _field()
    n0 = f0.latent()
    f1 = temporal.integral_warp_noise(
        f0, _const_flow(48, 64, 3, -2), None, torch.Generator().manual_seed(1)
    )
    n1 = f1.latent()
    torch.testing.assert_close(n1[:, :, 2:, :-3], n0[:, :, :-2, 3:], rtol=0, atol=1e-5)
    fresh = n1[:, :, :2, :].flatten()
    assert abs(torch.corrcoef(torch.stack([fresh, n0[:, :, :2, :].flatten()]))[0, 1]) < 0.2


def test_subpixel_pan_adds_up():
    """10 frames of a 0.3 px/frame pan move the noise 3 +- 0.5 px (it used to stay put)."""
    f = _field((4, 4, 48, 64))
    n0 = f.latent()
    gen = torch.Generator().manual_seed(5)
    flow = _const_flow(48, 64, -0.3, 0.0)  # content moves right: cur[x] = prev[x - 0.3]
    for _ in range(10):
        f = temporal.integral_warp_noise(f, flow, None, gen)
    shift = _shift_by_xcorr(n0, f.latent())
    assert abs(shift - 3.0) < 0.5, shift
    old = _noise((4, 4, 48, 64))
    start = old
    for _ in range(10):
        old = temporal.warp_noise(old, flow, None, gen)
    assert _shift_by_xcorr(start, old) < 0.5  # the nearest gather never moves


def test_zoom_keeps_unit_variance_and_independent_neighbours():
    """10 frames of a 1 %/frame zoom: per-pixel variance 1 +- 0.05, neighbour correlation
    < 0.05 (nearest gather: duplicated samples, correlation 0.17 after 5 frames)."""
    h = w = 32
    f = _field((32, 4, h, w), seed=1, k=4)
    gen = torch.Generator().manual_seed(6)
    flow = _zoom_flow(h, w, 1.01)
    for _ in range(10):
        f = temporal.integral_warp_noise(f, flow, None, gen)
    n = f.latent()
    var = n.var(dim=(0, 1))  # per pixel, over 128 samples
    assert abs(var.mean().item() - 1.0) < 0.05
    centre, ring = var[8:24, 8:24].mean().item(), var.mean().item()
    assert abs(centre - 1.0) < 0.05 and abs(ring - 1.0) < 0.05
    for a, b in ((n[..., :, 1:], n[..., :, :-1]), (n[..., 1:, :], n[..., :-1, :])):
        corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()
        assert abs(corr) < 0.05, corr
    # and it still follows the zoom: most of the centre is carried, not fresh
    f0 = _field((4, 4, h, w), seed=2)
    f1 = temporal.integral_warp_noise(f0, flow, None, gen)
    c = torch.corrcoef(
        torch.stack(
            [f1.latent()[..., 12:20, 12:20].flatten(), f0.latent()[..., 12:20, 12:20].flatten()]
        )
    )[0, 1]
    assert c > 0.9


def test_integral_masked_pixels_get_fresh_noise():
    f0 = _field()
    mask = np.zeros((48, 64), bool)
    mask[:, :32] = True
    f1 = temporal.integral_warp_noise(f0, _const_flow(48, 64, 0, 0), mask, torch.Generator())
    n0, n1 = f0.latent(), f1.latent()
    torch.testing.assert_close(n1[..., :32], n0[..., :32], rtol=0, atol=1e-5)
    c = torch.corrcoef(torch.stack([n1[..., 32:].flatten(), n0[..., 32:].flatten()]))[0, 1]
    assert abs(c) < 0.05
    assert abs(n1.std().item() - 1.0) < 0.03


def test_integral_bad_arguments():
    with pytest.raises(ValueError, match="subcells"):
        temporal.noise_field(_noise(), 0, None)
    with pytest.raises(ValueError, match="flow"):
        temporal.integral_warp_noise(_field(), _const_flow(24, 32, 0, 0), None, None)
    with pytest.raises(ValueError, match="mask"):
        temporal.integral_warp_noise(
            _field(), _const_flow(48, 64, 0, 0), np.ones((4, 4), bool), None
        )
