from __future__ import annotations

import cv2
import pytest

import temporal


def _shot(image, size=(224, 160)):
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("a", "b"), [("astronaut", "coffee"), ("chelsea", "astronaut")])
def test_hard_cut_is_detected(photos, a, b):
    prev, cur = _shot(photos[a]), _shot(photos[b])
    assert temporal.is_scene_cut(prev, cur)
    s = temporal.scene_cut_score(prev, cur)
    assert s["hist_distance"] > 0.3 and s["residual"] > 0.08


@pytest.mark.parametrize(("dx", "dy"), [(30, 0), (0, 30), (21, 21)])
def test_fast_pan_is_not_a_cut(pan_clip, dx, dy):
    clip = pan_clip(3, dx, dy)
    for prev, cur in zip(clip[:-1], clip[1:], strict=True):
        assert not temporal.is_scene_cut(prev, cur)


def test_same_frame_scores_zero(photos):
    img = _shot(photos["coffee"])
    s = temporal.scene_cut_score(img, img)
    assert s["hist_distance"] < 1e-6 and s["residual"] < 1e-6


def test_scheduler_interval_and_cuts():
    ks = temporal.KeyframeScheduler(4)
    keys = [i for i in range(12) if ks.is_keyframe(i, scene_cut=(i == 6))]
    assert keys == [0, 4, 6, 10]
    ks.reset()
    assert ks.is_keyframe(20, False)  # first frame after reset starts clean
    assert not ks.is_keyframe(21, False)


def test_scheduler_interval_zero_only_first_and_cuts():
    ks = temporal.KeyframeScheduler(0)
    keys = [i for i in range(50) if ks.is_keyframe(i, scene_cut=i in (17, 33))]
    assert keys == [0, 17, 33]
    with pytest.raises(ValueError, match="interval"):
        temporal.KeyframeScheduler(-1)
