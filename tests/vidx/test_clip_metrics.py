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
