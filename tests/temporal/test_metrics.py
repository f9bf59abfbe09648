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


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``out[y, x] = image[y - dy, x - dx]`` (content moves by (dx, dy)), edges replicated."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = image.shape[:2]
    return cv2.warpAffine(
        image, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    )


def test_exact_warp_error_is_zero_for_the_known_shift(photos):
    prev = np.ascontiguousarray(photos["astronaut"][100:148, 100:164])
    cur = _shift(prev, 3, -2)  # content moved right 3, up 2
    flow = np.zeros((48, 64, 2), np.float32)
    flow[..., 0], flow[..., 1] = -3.0, 2.0  # backward flow cur -> prev
    assert temporal.exact_pair_warp_error(prev, cur, flow) == pytest.approx(0.0, abs=1e-12)
    # the wrong flow is not free, and the default mask drops pixels that come from outside
    assert temporal.exact_pair_warp_error(prev, cur, np.zeros_like(flow)) > 1e-3
    mask = np.zeros((48, 64), bool)
    assert temporal.exact_pair_warp_error(prev, cur, flow, mask) is None


def test_exact_warp_error_resizes_the_flow_to_the_output():
    prev = np.zeros((16, 16, 3), np.uint8)
    prev[:, ::2] = 255  # vertical stripes, 1 px
    cur = _shift(prev, 2, 0)
    flow = np.zeros((8, 8, 2), np.float32)
    flow[..., 0] = -1.0  # 1 px at half size = 2 px at full size
    assert temporal.exact_pair_warp_error(prev, cur, flow) == pytest.approx(0.0, abs=1e-12)


def test_error_summary_reports_the_worst_pair():
    s = temporal.error_summary([0.01, None, 0.05, 0.02])
    assert s == {"mean": pytest.approx(0.08 / 3), "max": 0.05, "worst_pair": 2, "pairs": 3}
    with pytest.raises(ValueError, match="errors"):
        temporal.error_summary([None])


def test_blur_lowers_detail_retention(photos):
    img = np.ascontiguousarray(photos["astronaut"][::4, ::4])
    assert temporal.detail_retention(img, img) == pytest.approx(1.0)
    drs = [temporal.detail_retention(temporal.gaussian_blur(img, s), img) for s in (0.5, 1, 2)]
    assert 1.0 > drs[0] > drs[1] > drs[2] > 0.0
    big = cv2.resize(img, (256, 256), interpolation=cv2.INTER_NEAREST)
    assert temporal.detail_retention(img, big) == pytest.approx(1.0, abs=0.05)  # resized
    with pytest.raises(ValueError, match="flat"):
        temporal.detail_retention(img, np.zeros_like(img))


def test_blur_matched_sigma_recovers_a_known_blur(photos):
    frames = [np.ascontiguousarray(photos[k][:192, :192]).astype(np.float32) / 255 for k in photos]
    for sigma in (0.8, 1.7):
        target = np.mean(
            [temporal.gradient_energy(temporal.gaussian_blur(f, sigma)) for f in frames]
        )
        found = temporal.blur_matched_sigma(frames, float(target))
        assert found == pytest.approx(sigma, abs=0.02)
    assert temporal.blur_matched_sigma(frames, 1e9) == 0.0  # already below the target


def test_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255
    assert temporal.psnr(a, a) == float("inf")
    assert temporal.psnr(a, b) == pytest.approx(10 * np.log10(48))


def test_structure_ncc_tells_kept_structure_from_noise(photos):
    photo = np.ascontiguousarray(photos["coffee"][::2, ::2])
    assert temporal.structure_ncc(photo, photo) == pytest.approx(1.0)
    # a restyle that keeps the edges (colour changed, a little blur) scores high ...
    recoloured = cv2.GaussianBlur(255 - photo, (0, 0), 1.0)
    assert temporal.structure_ncc(recoloured, photo) > 0.8
    # ... noise texture and a flat frame do not
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, photo.shape, dtype=np.uint8)
    assert abs(temporal.structure_ncc(noise, photo)) < 0.2
    assert temporal.structure_ncc(np.full_like(photo, 128), photo) == 0.0
    # the source is resized to the output; a mask keeps one region
    half = cv2.resize(
        photo, (photo.shape[1] // 2, photo.shape[0] // 2), interpolation=cv2.INTER_AREA
    )
    assert temporal.structure_ncc(half, photo) > 0.9
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[:, : photo.shape[1] // 2 - 8] = 1  # 8 px from the noise: past the blur's reach
    mixed = photo.copy()
    mixed[:, photo.shape[1] // 2 :] = noise[:, photo.shape[1] // 2 :]
    assert temporal.structure_ncc(mixed, photo, mask=mask) == pytest.approx(1.0)
    with pytest.raises(temporal.TemporalError):
        temporal.structure_ncc(photo, photo, mask=mask[1:])
