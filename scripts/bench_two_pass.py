"""One long shot on Ray in two passes (``--passes 2``, issue 26 item 4) against one pass.

A generated clip moving 2 px right per frame (tests.conftest.pattern, one shot) is restyled by
a random diffusion model built here from its config (``--model-size``, default ``mid``), in
``--segment-frames`` segments, carried (the default for diffusion), losslessly (crf 0), on
local Ray instances of ``--configs`` WORKERSxTHREADS, once per ``--passes``:

- ``render s``: from the workers being ready to the last segment done (``total s``: the whole
  ``vidx.render`` call, Ray start and model loading in every worker included);
- speed-up: the first config's render time over each other config's, per number of passes;
- seams: the exact-motion warping error of the pairs joining two segments against the mean of
  the other pairs (scripts/bench_seams.py's measure);
- agreement: the frames of every config against the first one's (identical frames, PSNR).

The load average before each run is recorded: the machine may be shared. Prints a table and
writes JSON (``--out``). Usage: ``.venv/bin/python scripts/bench_two_pass.py [--frames 96]
[--size 128x96] [--segment-frames 16] [--model-size mid] [--steps 8] [--work-size 128]
[--passes 1 2] [--configs 1x1 2x1]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

import vidx  # noqa: E402
from scripts.bench_scale import cpu_model, load  # noqa: E402
from scripts.bench_seams import frames_of, pair_errors  # noqa: E402
from scripts.make_tiny_model import build_tiny_model  # noqa: E402
from tests.conftest import make_clip  # noqa: E402
from vidx.io.remux import scan_frames  # noqa: E402
from vidx.jobs.segment_plan import plan_segments  # noqa: E402


def render(src: Path, out: Path, **options: object) -> dict:
    """One vidx.render on Ray: wall times, the workers' segments and the load before it."""
    seen: list = []
    before = load()
    start = time.perf_counter()
    result = vidx.render(src, out, overwrite=True, on_progress=seen.append, **options)
    total = time.perf_counter() - start
    ray = [p for p in seen if hasattr(p, "segments")]
    return {
        "total_s": round(total, 2),
        "ready_s": round(ray[0].elapsed, 2),
        "render_s": round(ray[-1].elapsed - ray[0].elapsed, 2),
        "segments_per_worker": list(ray[-1].segments.values()),
        "worker_cpu_s": round(ray[-1].cpu_s, 2),
        "frames": result.frames,
        "load_before": before,
    }


def psnr(a: list[bytes], b: list[bytes]) -> float:
    err = np.mean(
        [np.mean((np.frombuffer(x, np.uint8).astype(float) - np.frombuffer(y, np.uint8)) ** 2)
         for x, y in zip(a, b, strict=True)]
    )  # fmt: skip
    return float("inf") if err == 0 else float(10 * np.log10(255**2 / err))


def seams_of(path: Path, seams: set[int]) -> dict:
    errors = pair_errors(path)
    seam = [e for t, e in enumerate(errors, start=1) if t in seams]
    inner = [e for t, e in enumerate(errors, start=1) if t not in seams]
    mean = float(np.mean(inner))
    return {
        "seams": seam,
        "interior_mean": mean,
        "worst_seam_over_interior": max(seam) / mean,
        "seam_mean_over_interior": float(np.mean(seam)) / mean,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", default="128x96")
    parser.add_argument("--segment-frames", type=int, default=16)
    parser.add_argument("--model-size", default="mid", choices=["tiny", "mid"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--strength", type=float, default=0.6)
    parser.add_argument("--work-size", type=int, default=128)
    parser.add_argument("--passes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--configs", nargs="+", default=["1x1", "2x1"], help="WORKERSxTHREADS")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_two_pass.json")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="bench-two-pass-"))
    model = build_tiny_model(folder / "model", size=args.model_size)
    clip = make_clip(folder / "in.mp4", frames=args.frames, size=(w, h))
    seams = {s.first for s in plan_segments(scan_frames(clip), args.segment_frames)[1:]}
    options = {
        "model": str(model),
        "prompt": "an oil painting",
        "steps": args.steps,
        "strength": args.strength,
        "work_size": args.work_size,
        "segment_frames": args.segment_frames,
        "crf": 0,
    }
    rows: list[dict] = []
    for passes in args.passes:
        first: Path | None = None
        for config in args.configs:
            workers, threads = (int(v) for v in config.split("x"))
            out = folder / f"p{passes}-{config}.mp4"
            row = {"passes": passes, "config": config}
            row |= render(
                clip, out, **options, passes=passes, workers=workers, threads_per_worker=threads
            )
            row |= seams_of(out, seams)
            if first is None:
                first = out
            else:
                a, b = frames_of(first), frames_of(out)
                row["identical_frames_to_first"] = sum(x == y for x, y in zip(a, b, strict=True))
                row["psnr_to_first_db"] = psnr(a, b)
                one = next(r for r in rows if r["passes"] == passes)
                row["speedup_render"] = round(one["render_s"] / row["render_s"], 2)
                row["speedup_total"] = round(one["total_s"] / row["total_s"], 2)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "seams"}, flush=True)
    print(
        f"\n{args.frames} frames {args.size}, {args.model_size} model, {args.steps} steps, "
        f"strength {args.strength}, work size {args.work_size}, {len(seams) + 1} segments"
    )
    print(
        f"{'passes':>6} {'config':>6} {'total s':>8} {'render s':>9} {'speed-up':>8} "
        f"{'worst seam/int':>14} {'PSNR dB':>8} {'load':>5}"
    )
    for r in rows:
        print(
            f"{r['passes']:6} {r['config']:>6} {r['total_s']:8.1f} {r['render_s']:9.1f} "
            f"{r.get('speedup_render', 1.0):8.2f} {r['worst_seam_over_interior']:14.2f} "
            f"{r.get('psnr_to_first_db', float('inf')):8.1f} {r['load_before']:5.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version.split()[0]}
    report = {"machine": machine, "job": {**vars(args), "out": str(args.out)}, "runs": rows}
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
