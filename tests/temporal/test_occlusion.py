from __future__ import annotations

import numpy as np
import pytest

import temporal


def _occluder_pair(photos, step: int = 8):
    """A textured patch (coffee) slides right by ``step`` px over a still background."""
    bg = photos["astronaut"][180:340, 150:374].copy()  # 160 x 224
    patch = photos["coffee"][150:198, 250:298]  # 48 x 48
    y0, x0 = 56, 80
    a, b = bg.copy(), bg.copy()
    a[y0 : y0 + 48, x0 : x0 + 48] = patch
    b[y0 : y0 + 48, x0 + step : x0 + step + 48] = patch
    return a, b, (y0, x0)


def test_disoccluded_band_is_unreliable(photos):
    a, b, (y0, x0) = _occluder_pair(photos)
    back, fwd = temporal.flow(b, a), temporal.flow(a, b)  # current frame is b
    mask = temporal.consistency_mask(back, fwd)
    assert mask.shape == b.shape[:2] and mask.dtype == bool
    band = mask[y0 + 4 : y0 + 44, x0 + 1 : x0 + 7]  # background in b, hidden under the patch in a
    assert band.mean() < 0.2, band.mean()
    far = mask[:, :60]  # still background away from the patch
    assert far.mean() > 0.9, far.mean()
    inside = mask[y0 + 12 : y0 + 36, x0 + 20 : x0 + 44]  # the patch itself is tracked
    assert inside.mean() > 0.8, inside.mean()


def test_dilate_grows_the_unreliable_region(photos):
    a, b, _ = _occluder_pair(photos)
    back, fwd = temporal.flow(b, a), temporal.flow(a, b)
    m0 = temporal.consistency_mask(back, fwd)
    m3 = temporal.consistency_mask(back, fwd, dilate=3)
    assert (m3 <= m0).all() and m3.sum() < m0.sum()


def test_pan_is_reliable_except_where_content_leaves(pan_clip):
    a, b = pan_clip(2, 6, 0)  # content moves 6 px left from a to b
    back, fwd = temporal.flow(b, a), temporal.flow(a, b)
    mask = temporal.consistency_mask(back, fwd)
    assert mask[8:-8, 8:-16].mean() > 0.95
    # pixels of b whose source lies beyond a's right border cannot be warped from a
    assert mask[:, -3:].mean() < 0.1


def test_exact_flows():
    h, w = 20, 30
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0] = 2.0
    assert temporal.consistency_mask(f, -f)[:, : w - 2].all()
    assert not temporal.consistency_mask(f, f)[:, : w - 2].any()  # both say "right": occluded
    step = f.copy()
    step[:, 15:, 0] = -2.0  # a motion boundary between columns 14 and 15
    m = temporal.consistency_mask(step, -step)
    assert not m[:, 14:16].any() and m[:, 3:12].all()


def test_bad_arguments():
    f = np.zeros((4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="flow_ba"):
        temporal.consistency_mask(f, np.zeros((4, 5, 2), np.float32))
    with pytest.raises(ValueError, match="dilate"):
        temporal.consistency_mask(f, f, dilate=-1)
