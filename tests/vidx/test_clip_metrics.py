"""``vidx.jobs.clip_metrics.clip_metrics``: warping error (mean and worst pair) and, with a
per-frame reference, detail retention and PSNR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import make_clip, pattern
from vidx.jobs.clip_metrics import clip_metrics


def blurred(i: int, w: int, h: int) -> np.ndarray:
    return cv2.GaussianBlur(pattern(i, w, h), (0, 0), 2.0)


def test_clip_metrics_keys_and_detail_retention(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=6, size=(128, 96))
    soft = make_clip(tmp_path / "soft.mp4", frames=6, size=(128, 96), image=blurred)
    plain = clip_metrics(src, src)
    assert set(plain) == {
        "warp_error",
        "warp_error_max",
        "worst_pair",
        "source_frames",
        "output_frames",
        "pairs",
    }
    assert plain["pairs"] == 5 and plain["warp_error"] <= plain["warp_error_max"]
    assert 1 <= plain["worst_pair"] <= 5
    same = clip_metrics(src, src, reference=src)
    assert same["detail_retention_min"] == pytest.approx(1.0)
    assert same["psnr_db"] == 100.0 and same["reference_frames"] == 6
    soft_vs_sharp = clip_metrics(src, soft, reference=src, max_frames=4)
    assert soft_vs_sharp["detail_retention_min"] < 0.8
    assert soft_vs_sharp["detail_retention_min"] <= soft_vs_sharp["detail_retention_mean"]
    assert soft_vs_sharp["psnr_db"] < 40 and soft_vs_sharp["source_frames"] == 4


def walker(i: int, w: int, h: int, *, smear: bool = False) -> np.ndarray:
    """A still textured background and a textured square walking 3 px right a frame; with
    ``smear`` the square is blurred (what a method that smears a moving subject gives)."""
    ys, xs = np.mgrid[0:h, 0:w]
    fine = 60 * np.sin(xs / 1.3) * np.sin(ys / 1.6)  # a detailed still background
    frame = np.clip(pattern(0, w, h) * 0.6 + fine[..., None] + 50, 0, 255).astype(np.uint8)
    y, x = np.mgrid[0:24, 0:24]
    square = np.repeat((128 + 60 * np.sin(x / 2.0) * np.cos(y / 2.5))[..., None], 3, axis=2)
    square = square.astype(np.uint8)
    if smear:
        square = cv2.GaussianBlur(square, (0, 0), 3.0)
    x = 20 + 3 * i
    frame[36:60, x : x + 24] = square
    return frame


def test_regions_show_a_smeared_moving_subject_that_the_whole_frame_hides(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=8, size=(128, 96), image=walker)
    smear = make_clip(
        tmp_path / "smear.mp4",
        frames=8,
        size=(128, 96),
        image=lambda i, w, h: walker(i, w, h, smear=True),
    )
    result = clip_metrics(src, smear, reference=src)
    regions = result["regions"]
    assert set(regions) == {"moving", "uncovered", "entering", "background"}
    moving, background = regions["moving"], regions["background"]
    assert set(moving) >= {"share", "frames", "warp_error_ratio", "detail_retention_min"}
    assert 0.03 < moving["share"] < 0.2 and moving["frames"] == 7
    assert moving["detail_retention_min"] < 0.5 and result["detail_retention_min"] > 0.9
    assert background["detail_retention_min"] > 0.9
    assert regions["uncovered"]["warp_error"] is None  # no trusted flow there


def test_an_upscale_is_judged_for_shimmer_at_its_own_size(tmp_path: Path) -> None:
    """A Lanczos x2 upscale is as steady as the baseline; one that adds new grain to every
    frame shimmers, which the source-size figure averages away."""

    def lanczos(i: int, w: int, h: int) -> np.ndarray:
        small = pattern(i, w // 2, h // 2)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LANCZOS4)

    def grainy(i: int, w: int, h: int) -> np.ndarray:
        noise = np.random.default_rng(i).normal(0, 12, (h, w, 3))
        return np.clip(lanczos(i, w, h) + noise, 0, 255).astype(np.uint8)

    src = make_clip(tmp_path / "src.mp4", frames=4, size=(96, 64))
    kw = {"frames": 4, "size": (192, 128), "pix_fmt": "yuv444p"}
    steady = make_clip(tmp_path / "lanczos.mp4", image=lanczos, **kw)
    shimmer = make_clip(tmp_path / "grain.mp4", image=grainy, **kw)
    assert "shimmer" not in clip_metrics(src, src)
    base = clip_metrics(src, steady)["shimmer"]
    assert base["ratio"] == pytest.approx(1.0, abs=0.35)
    noisy = clip_metrics(src, shimmer, reference=steady)
    assert noisy["shimmer"]["ratio"] > 3 * base["ratio"]
    assert noisy["shimmer"]["reference_ratio"] == pytest.approx(base["ratio"])
    assert 1 <= noisy["shimmer"]["worst_pair"] <= 3
