from __future__ import annotations

import numpy as np
import pytest
import torch

import temporal


def test_fuse_numpy_uint8_and_float(photos):
    cur = photos["chelsea"][:40, :50]
    prev = photos["coffee"][:40, :50]
    mask = np.zeros((40, 50), bool)
    mask[:, 25:] = True
    out = temporal.fuse(cur, prev, mask, 0.75)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :25], cur[:, :25])
    expect = np.rint(cur[:, 25:] * 0.25 + prev[:, 25:].astype(np.float32) * 0.75)
    np.testing.assert_array_equal(out[:, 25:], expect.astype(np.uint8))
    soft = np.full((40, 50), 0.5, np.float32)
    f = temporal.fuse(cur / 255.0, prev / 255.0, soft, 1.0)
    assert f.dtype == np.float64
    np.testing.assert_allclose(f, (cur / 255.0 + prev / 255.0) / 2, atol=1e-6)


def test_fuse_torch_latents():
    torch.manual_seed(0)
    cur, prev = torch.randn(2, 4, 8, 12), torch.randn(2, 4, 8, 12)
    mask = np.ones((8, 12), bool)
    mask[:4] = False
    out = temporal.fuse(cur, prev, mask, 1.0)
    torch.testing.assert_close(out[:, :, :4], cur[:, :, :4])
    torch.testing.assert_close(out[:, :, 4:], prev[:, :, 4:])
    m4 = torch.from_numpy(mask).float()[None, None].expand(2, 1, 8, 12)
    torch.testing.assert_close(temporal.fuse(cur, prev, m4, 1.0), out)
    assert temporal.fuse(cur.half(), prev.half(), mask, 0.5).dtype == torch.float16


def test_match_color_numpy(photos):
    img = photos["chelsea"][:64, :64]
    ref = photos["coffee"][:64, :64]
    out = temporal.match_color(img, ref)
    assert out.dtype == np.uint8
    o, r = out.reshape(-1, 3).astype(float), ref.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(o.mean(0), r.mean(0), atol=1.5)
    np.testing.assert_allclose(o.std(0), r.std(0), rtol=0.05)
    mask = np.zeros((64, 64), bool)
    mask[:32] = True
    f = temporal.match_color(img / 255.0, ref / 255.0, mask)
    np.testing.assert_allclose(
        f[:32].reshape(-1, 3).mean(0), (ref[:32] / 255.0).reshape(-1, 3).mean(0), atol=1e-5
    )


def test_match_color_torch_matches_numpy(photos):
    img = photos["chelsea"][:32, :32] / 255.0
    ref = photos["coffee"][:32, :32] / 255.0
    expect = temporal.match_color(img, ref)
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float()  # noqa: E731
    out = temporal.match_color(t(img), t(ref))
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), expect, atol=1e-4)
    mask = np.zeros((32, 32), bool)
    mask[5:20, 3:30] = True
    out_m = temporal.match_color(t(img), t(ref), mask)
    np.testing.assert_allclose(
        out_m[0].permute(1, 2, 0).numpy(), temporal.match_color(img, ref, mask), atol=1e-4
    )


def test_bad_arguments(photos):
    img = photos["chelsea"][:8, :8]
    with pytest.raises(ValueError, match="weight"):
        temporal.fuse(img, img, np.ones((8, 8), bool), 2.0)
    with pytest.raises(ValueError, match="mask"):
        temporal.fuse(img, img, np.ones((4, 8), bool), 0.5)
    with pytest.raises(ValueError, match="channels"):
        temporal.match_color(img, img[:, :, :2])


def test_follow_color_moves_the_previous_output_as_the_source_moved():
    rng = np.random.default_rng(0)
    src_prev = rng.integers(40, 200, (32, 32, 3)).astype(np.uint8)
    src = (src_prev * 0.8).round().astype(np.uint8)  # a fade: the source darkens
    prev_out = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)  # saturated output
    out = rng.integers(60, 120, (32, 32, 3)).astype(np.uint8)
    got = temporal.follow_color(out, prev_out, src, src_prev)
    change = src.astype(float).mean((0, 1)) - src_prev.astype(float).mean((0, 1))
    want = prev_out.astype(float).mean((0, 1)) + change
    assert np.allclose(got.astype(float).mean((0, 1)), want, atol=0.6)  # despite clipping
    same = temporal.follow_color(out, prev_out, src_prev, src_prev)
    assert np.allclose(same.astype(float).std((0, 1)), prev_out.astype(float).std((0, 1)), 1.0)
