"""scripts/bench_gpu.py at toy size on the CPU, so the GPU benchmark cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.bench_gpu import main


def test_bench_gpu_runs_every_stage_at_toy_size(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    report = main(["--toy", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    stages = [row["stage"] for row in report["rows"]]
    assert stages[:2] == ["upscale esrgan-x4plus", "upscale esrgan-anime"]
    assert "img2img 1 step cfg full" in stages and "img2img 2 steps cfg full" in stages
    assert any(s.startswith("img2img") and "residual" in s for s in stages)  # run or skipped
    assert stages[-3:] == [
        "job restyle+upscale",
        "dtype esrgan-anime fp32",
        "dtype esrgan-anime bf16",
    ]
    assert report["rows"][-1]["psnr_to_fp32_db"] > 30  # bf16 of a real model: close to fp32
    for row in report["rows"]:
        if "skipped" not in row:
            assert row["fps"] > 0 and row["peak_mib"] > 0 and row["frames"] == 1
    assert report["rows"][-3]["timings_s"]["upscale"] > 0
    assert "1 UNet calls/frame" in report["rows"][2]["detail"]
