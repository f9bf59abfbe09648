"""Benchmark: the similarity filter on a static shot against a moving one of the same size.

Usage: ``python scripts/bench_static.py [--size mid] [--frames 48] [--threshold 0.99]
[--max-skip 10] [--set KEY=VALUE ...] [--out PATH]``

Both clips come from ``scripts/bench_restyle.py``: the moving one is its real photo under the
known slow motion, the static one the first frame of it repeated. Both get the pipeline's
contexts (DIS flow, a keyframe every ``--keyframe-interval``) and run through the same
``DiffusionRestyler`` settings with the filter on (``similarity_threshold``, ``max_skip``).
Reported per clip: wall time of the restyle (flow analysis apart), UNet calls and rows per
frame, frames skipped; for the static clip the PSNR of the last output to the first (drift);
for the moving one the exact-motion warping error (mean, worst pair). Targets (issue 13): the
static clip >= 5x faster, PSNR first vs last >= 40 dB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_restyle import (  # noqa: E402
    SETUPS,
    exact_errors,
    make_clip,
    make_contexts,
    parse_overrides,
)
from make_tiny_model import bench_model  # noqa: E402

from vidx.options import DeviceOptions, RestyleOptions  # noqa: E402
from vidx.restyle.diffusion import DiffusionRestyler  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def run_clip(opts: RestyleOptions, frames, ctxs) -> dict:
    restyler = DiffusionRestyler(opts, DeviceOptions(device="cpu", dtype="fp32"))
    start = time.perf_counter()
    outs = [restyler(f, c) for f, c in zip(frames, ctxs, strict=True)]
    wall = time.perf_counter() - start
    info = restyler.describe()
    n = len(frames)
    return {
        "wall_s": wall,
        "unet_calls_per_frame": info["unet_calls"] / n,
        "unet_rows_per_frame": info["unet_rows"] / n,
        "skipped_frames": info["skipped_frames"],
        "outputs": outs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="mid", choices=[s for s in SETUPS if s != "sd15"])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--threshold", type=float, default=0.99)
    parser.add_argument("--max-skip", type=int, default=10)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--strength", type=float, default=0.6)
    parser.add_argument("--keyframe-interval", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="bench-results/static_shot.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    height, width, work = SETUPS[args.size]
    moving, flows = make_clip(args.frames, height, width)
    static = [moving[0]] * args.frames
    rows = {}
    with tempfile.TemporaryDirectory(prefix="vidx-static-") as tmp:
        model = bench_model(Path(tmp) / args.size, args.size)
        settings = dict(
            model=str(model),
            prompt="an oil painting of an astronaut, thick brush strokes",
            negative_prompt="blurry",
            strength=args.strength,
            steps=args.steps,
            work_size=work,
            similarity_threshold=args.threshold,
            max_skip=args.max_skip,
        )
        opts = RestyleOptions().with_values(**{**settings, **parse_overrides(args.set)})
        for name, frames in (("static", static), ("moving", moving)):
            ctxs, analysis_s = make_contexts(frames, args.keyframe_interval)
            row = run_clip(opts, frames, ctxs)
            row["analysis_s"] = analysis_s
            outs = row.pop("outputs")
            if name == "static":
                row["psnr_first_last_db"] = psnr(outs[0], outs[-1])
            else:
                err = exact_errors(outs, flows)
                row["warp_error"] = {k: err[k] for k in ("mean", "max", "worst_pair")}
            rows[name] = row
    speed = rows["moving"]["wall_s"] / rows["static"]["wall_s"]
    print(f"{'clip':7} {'wall s':>8} {'UNet/frame':>10} {'rows/frame':>10} {'skipped':>7}")
    for name, r in rows.items():
        print(
            f"{name:7} {r['wall_s']:8.1f} {r['unet_calls_per_frame']:10.2f} "
            f"{r['unet_rows_per_frame']:10.2f} {r['skipped_frames']:7d}"
        )
    s, m = rows["static"], rows["moving"]
    print(
        f"static {speed:.2f}x faster; PSNR first vs last {s['psnr_first_last_db']:.1f} dB; "
        f"moving warp error {m['warp_error']['mean']:.5f} (worst {m['warp_error']['max']:.5f})"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "settings": vars(args),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "speedup": speed,
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
