"""Variants cost: K restyles of one clip in one pass against one restyle, side by side.

Runs the variants job ``samples/seasons.toml`` (K=4, embedded style backend, temporal on) and
each single variant alone, alternating, best of ``--repeats``; the target is
``t(K) <= (1 + 0.7 (K - 1)) * t(1)`` where t(1) is the mean single-variant time.
Prints a table and writes JSON. ``.venv/bin/python scripts/bench_variants.py [--clip PATH]``
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

from scripts.bench_io import machine  # noqa: E402
from vidx.jobs.jobfile import Job, load_job  # noqa: E402
from vidx.jobs.run import build_outputs, plan, trim_of  # noqa: E402
from vidx.jobs.variants import variant_targets  # noqa: E402
from vidx.pipeline import JobContext, run  # noqa: E402


def timed(job: Job, clip: Path, outdir: Path) -> float:
    """One pass over every variant, models loaded before the clock starts."""
    targets = variant_targets(job, outdir, {"overwrite": True, "segment_frames": 0})
    shared = plan(clip, targets).shared
    outputs = build_outputs(targets)
    start = time.perf_counter()
    run(JobContext(clip, trim=trim_of(shared), analysis=shared.analysis), outputs)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=ROOT / "samples" / "astronaut-pan.mp4")
    ap.add_argument("--job", type=Path, default=ROOT / "samples" / "seasons.toml")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_variants.json")
    args = ap.parse_args()
    job = load_job(args.job)
    names = list(job.variants)
    k = len(names)
    singles = {n: Job(job.path, job.shared, {n: job.variants[n]}) for n in names}
    best_all = float("inf")
    best_one = dict.fromkeys(names, float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        timed(singles[names[0]], args.clip, Path(tmp))  # warm-up: model sessions, caches
        for _ in range(args.repeats):
            best_all = min(best_all, timed(job, args.clip, Path(tmp)))
            for n in names:
                best_one[n] = min(best_one[n], timed(singles[n], args.clip, Path(tmp)))
    one = sum(best_one.values()) / k
    ratio = best_all / one
    target = 1 + 0.7 * (k - 1)
    result = {
        "machine": machine(),
        "clip": args.clip.name,
        "variants": k,
        "single_s": best_one,
        "single_mean_s": one,
        "all_s": best_all,
        "ratio": ratio,
        "target": target,
        "separate_runs_s": sum(best_one.values()),
    }
    print(f"machine: {result['machine']['cpu']}, {os.cpu_count()} cores; clip {args.clip.name}")
    print(f"{'run':34} {'seconds':>9}")
    for n in names:
        print(f"{'one variant: ' + n:34} {best_one[n]:9.2f}")
    print(f"{f'{k} variants in one pass':34} {best_all:9.2f}")
    print(
        f"ratio to one run: {ratio:.2f} (target <= {target:.2f}); "
        f"{k} separate runs would take {sum(best_one.values()):.2f}s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
