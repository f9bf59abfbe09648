"""`vidx metrics`: the warping error of any clip pair, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import make_clip, pattern, run_cli


def noisy(i: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return np.clip(pattern(i, w, h) + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def test_metrics_json_ranks_a_flickering_clip_worse(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=8, size=(128, 96))
    flicker = make_clip(tmp_path / "flicker.mp4", frames=8, size=(128, 96), image=noisy)
    same = run_cli("metrics", src, src, "--json")
    bad = run_cli("metrics", src, flicker, "--json")
    assert same.exit_code == 0 and bad.exit_code == 0, same.output + bad.output
    a, b = json.loads(same.stdout), json.loads(bad.stdout)
    assert a["pairs"] == 7 and a["source_frames"] == a["output_frames"] == 8
    assert a["warp_error"] < 0.002 < b["warp_error"]


def test_metrics_missing_file(tmp_path: Path) -> None:
    result = run_cli("metrics", tmp_path / "a.mp4", tmp_path / "b.mp4")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_metrics_with_a_reference_reports_each_region(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=6, size=(128, 96))
    noisy_clip = make_clip(tmp_path / "noisy.mp4", frames=6, size=(128, 96), image=noisy)
    as_json = run_cli("metrics", src, noisy_clip, "--reference", src, "--json")
    assert as_json.exit_code == 0, as_json.output
    regions = json.loads(as_json.stdout)["regions"]
    assert set(regions) == {"moving", "uncovered", "entering", "background"}
    assert regions["background"]["warp_error_ratio"] > 1  # noisier than the reference
    assert regions["background"]["share"] > 0.8 and regions["background"]["frames"] == 5
    text = run_cli("metrics", src, noisy_clip, "--reference", src)
    assert text.exit_code == 0, text.output
    assert "per region" in text.stdout and "background" in text.stdout
    assert "detail retention min" in text.stdout.split("background", 1)[1]
