from __future__ import annotations

import cv2
import numpy as np
import pytest

import temporal


def test_zero_for_a_clip_against_itself(pan_clip):
    clip = pan_clip(4, 3, 1)
    assert temporal.warp_error(clip, clip) < 2e-4


def test_grows_with_per_frame_noise(pan_clip):
    clip = pan_clip(4, 3, 1)
    rng = np.random.default_rng(0)
    errors = []
    for sigma in (0, 4, 12):
        noisy = [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in clip]
        errors.append(temporal.warp_error(clip, noisy))
    assert errors[0] < errors[1] < errors[2]
    assert errors[2] > 10 * errors[1] / 4  # roughly sigma^2: 2 * (12/255)^2 per pixel
    assert abs(errors[2] - 2 * (12 / 255) ** 2) < 0.5 * 2 * (12 / 255) ** 2


def test_invariant_to_output_resolution(pan_clip):
    clip = pan_clip(4, 3, 1)
    rng = np.random.default_rng(1)
    noisy = [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in clip]
    big = [
        cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
        for f in noisy
    ]
    e1, e2 = temporal.warp_error(clip, noisy), temporal.warp_error(clip, big)
    assert abs(e1 - e2) < 0.05 * e1


def test_streams_from_iterables(pan_clip):
    clip = pan_clip(5, 2, 0)
    per_pair = list(temporal.warp_error_pairs(iter(clip), (f for f in clip)))
    assert len(per_pair) == 4
    assert temporal.warp_error(iter(clip), iter(clip), max_frames=3) == pytest.approx(
        np.mean(per_pair[:2])
    )
    meter = temporal.WarpErrorMeter()
    for f in clip:
        meter.update(f, f)
    assert meter.pairs == 4 and meter.value == pytest.approx(np.mean(per_pair))


def test_length_mismatch(pan_clip):
    clip = pan_clip(4, 2, 0)
    assert len(list(temporal.warp_error_pairs(clip, clip[:3]))) == 2  # stops at the shorter
    with pytest.raises(ValueError, match="output_frames ended"):
        temporal.warp_error(clip, clip[:3], strict=True)
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal.warp_error(clip[:1], clip[:1])
