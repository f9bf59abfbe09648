"""temporal.motion_regions: moving / uncovered / entering / background from the source's flow,
and the warping error and detail retention per region."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import temporal
from temporal.errors import TemporalError

H, W = 48, 64
SQ, X0, Y0, D = 12, 20, 18, 4  # a square of SQ px at (X0, Y0) on frame t-1 moving D px right


def square_flows() -> tuple[np.ndarray, np.ndarray]:
    """Exact flows of the square moving over a still background: (back t -> t-1, fwd)."""
    back = np.zeros((H, W, 2), np.float32)
    fwd = np.zeros((H, W, 2), np.float32)
    back[Y0 : Y0 + SQ, X0 + D : X0 + D + SQ, 0] = -D
    fwd[Y0 : Y0 + SQ, X0 : X0 + SQ, 0] = D
    return back, fwd


def test_square_over_still_background_moving_is_the_square_uncovered_its_trail() -> None:
    back, fwd = square_flows()
    labels = temporal.region_labels(back, fwd)
    square = np.zeros((H, W), bool)
    square[Y0 : Y0 + SQ, X0 + D : X0 + D + SQ] = True
    trail = np.zeros((H, W), bool)
    trail[Y0 : Y0 + SQ, X0 : X0 + D] = True
    assert np.array_equal(labels["uncovered"], trail)
    assert labels["moving"][square].all()
    grown = cv2.dilate(square.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not (labels["moving"] & ~grown).any()  # the square, lightly dilated
    assert not labels["entering"].any()
    total = sum(m.astype(int) for m in labels.values())
    assert (total == 1).all()  # a partition of the frame


def test_pure_pan_has_no_moving_pixels_and_enters_at_the_border() -> None:
    back = np.zeros((H, W, 2), np.float32)
    back[..., 0] = 3.0  # the camera pans right: p at t was at p + 3 at t-1
    fwd = -back
    for model in ("homography", "similarity"):
        labels = temporal.region_labels(back, fwd, model=model)
        assert not labels["moving"].any() and not labels["uncovered"].any()
        strip = np.zeros((H, W), bool)
        strip[:, W - 3 :] = True
        assert np.array_equal(labels["entering"], strip)
        assert np.array_equal(labels["background"], ~strip)


def test_zoom_is_the_dominant_motion_not_a_moving_subject() -> None:
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    c = np.array([(W - 1) / 2, (H - 1) / 2], np.float32)
    back = np.dstack([(xs - c[0]) * -0.03, (ys - c[1]) * -0.03])  # zooming in by 3 %
    matrix = temporal.dominant_motion(back)
    assert temporal.motion_residual(back, matrix).max() < 0.01
    assert not temporal.region_labels(back, -back)["moving"].any()


def test_dis_finds_a_textured_square_moving_over_a_still_photo(photos) -> None:
    bg = cv2.resize(photos["coffee"], (128, 96), interpolation=cv2.INTER_AREA)
    patch = cv2.resize(photos["chelsea"], (24, 24), interpolation=cv2.INTER_AREA)
    frames = []
    for x in (40, 44):
        f = bg.copy()
        f[36:60, x : x + 24] = patch
        frames.append(f)
    back, fwd = temporal.source_flows(frames[0], frames[1])
    moving = temporal.region_labels(back, fwd)["moving"]
    square = np.zeros(moving.shape, bool)
    square[36:60, 44:68] = True
    assert (moving & square).sum() / (moving | square).sum() > 0.6  # IoU


def test_moved_within_is_a_sliding_union() -> None:
    masks = [np.zeros((2, 3), bool) for _ in range(5)]
    masks[0][0, 0] = masks[3][1, 2] = True
    recent = temporal.moved_within(masks, window=2)
    assert [int(m.sum()) for m in recent] == [1, 1, 0, 1, 1]
    relabelled = temporal.with_moving(temporal.region_labels(*square_flows()), np.ones((H, W)))
    assert not (relabelled["moving"] & relabelled["uncovered"]).any()
    assert not relabelled["background"].any()


def test_bad_arguments_are_typed_errors() -> None:
    back, fwd = square_flows()
    with pytest.raises(TemporalError, match="same shape"):
        temporal.region_labels(back, fwd[:-1])
    with pytest.raises(TemporalError, match="back"):
        temporal.region_labels(back[..., 0], fwd)
    with pytest.raises(TemporalError, match="model"):
        temporal.dominant_motion(back, model="affine")
    with pytest.raises(TemporalError, match="threshold"):
        temporal.region_labels(back, fwd, threshold=0)
    with pytest.raises(TemporalError, match="window"):
        temporal.moved_within([], window=0)
    with pytest.raises(TemporalError, match="region 'a'"):
        temporal.region_warp_errors(back, back, back, {"a": np.ones((2, 2), bool)})


def test_masked_warp_error_is_zero_where_the_warp_is_exact() -> None:
    rng = np.random.default_rng(0)
    prev = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    cur = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)  # unrelated everywhere ...
    cur[:, : W // 2] = np.roll(prev, 2, axis=1)[:, : W // 2]  # ... but the left half moved 2 px
    back = np.zeros((H, W, 2), np.float32)
    back[..., 0] = -2.0
    left = np.zeros((H, W), bool)
    left[:, : W // 2] = True
    errors = temporal.region_warp_errors(prev, cur, back, {"left": left, "right": ~left})
    assert errors["left"] == 0.0 and errors["right"] > 0.05
    tiny = np.zeros((H, W), bool)
    tiny[0, 0] = True  # under 0.2 % of the frame: skipped
    assert temporal.region_warp_errors(prev, cur, back, {"t": tiny}) == {"t": None}


def test_pair_warp_error_counts_only_the_region(pan_clip) -> None:
    a, b = pan_clip(2, 3, 1)
    noisy = b.copy()
    noisy[:, :112] = np.random.default_rng(1).integers(0, 256, noisy[:, :112].shape)
    left = np.zeros(b.shape[:2], bool)
    left[:, :112] = True
    assert temporal.pair_warp_error(a, b, a, noisy, region=~left) < 2e-4
    assert temporal.pair_warp_error(a, b, a, noisy, region=left) > 0.05
    with pytest.raises(TemporalError, match="region"):
        temporal.pair_warp_error(a, b, a, b, region=left[1:])


def test_detail_retention_per_region_and_the_meter(photos) -> None:
    ref = cv2.resize(photos["astronaut"], (W, H), interpolation=cv2.INTER_AREA)
    out = ref.copy()
    out[:, : W // 2] = cv2.GaussianBlur(ref, (0, 0), 2.0)[:, : W // 2]
    left = np.zeros((H, W), bool)
    left[:, : W // 2 - 3] = True
    dr = temporal.region_detail_retention(out, ref, {"left": left, "right": ~left})
    assert dr["left"] < 0.5 and dr["right"] > 0.9
    big = cv2.resize(out, (2 * W, 2 * H))  # masks follow the output's size
    assert temporal.region_detail_retention(big, ref, {"left": left})["left"] < 0.5

    meter = temporal.RegionMeter()
    meter.add(1, {"a": 0.1}, errors={"a": 0.02}, reference_errors={"a": 0.04}, detail={"a": 0.9})
    meter.add(2, {"a": 0.3}, errors={"a": 0.04}, reference_errors={"a": 0.04}, detail={"a": 0.5})
    meter.add(3, {"a": 0.001}, errors={"a": None}, detail={"a": None})
    row = meter.summary()["a"]
    assert row["share"] == pytest.approx(0.401 / 3) and (row["pairs"], row["frames"]) == (2, 2)
    assert row["warp_error_max"] == 0.04 and row["worst_pair"] == 2
    assert row["warp_error_ratio"] == pytest.approx(0.75)
    assert row["detail_retention_min"] == 0.5 and row["detail_retention_worst_frame"] == 2
    assert row["detail_retention_mean"] == pytest.approx(0.7)
