"""Overhead of resumable segmented rendering (vidx.jobs.segments) against one straight pipeline.run.

The same job (lanczos upscale, default encode settings, AAC audio copied) runs unsegmented and
segmented (the default segment size and any others given), alternating run by run so the machine
load is shared; the best of ``--repeats`` is kept. Also times the timestamp scan on its own.

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_segments.py [--frames 480] [--size 640x360] [--repeats 2]
[--segment-frames 240 60] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import make_clip  # noqa: E402
from vidx.io.remux import scan_frames  # noqa: E402
from vidx.jobs.segments import run_segmented  # noqa: E402
from vidx.options import DEFAULT_SEGMENT_FRAMES, RunOptions  # noqa: E402
from vidx.pipeline import JobContext, Output, run  # noqa: E402
from vidx.upscale.classic import ClassicUpscaler  # noqa: E402
from vidx.values.sizes import parse_size  # noqa: E402


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def timed(job) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=480)
    ap.add_argument("--size", default="640x360", help="WxH of the generated input")
    ap.add_argument("--upscale", default="x2")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--segment-frames", type=int, nargs="+", default=[DEFAULT_SEGMENT_FRAMES])
    ap.add_argument("--out", default="bench-results/bench_segments.json")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src = make_clip(Path(tmp) / "in.mp4", args.frames, (w, h), audio=True)
        size = parse_size(args.upscale)

        def plain() -> None:
            run(JobContext(src), [Output(Path(tmp) / "plain.mp4", ClassicUpscaler(), size)])

        def segmented(frames: int):
            def job() -> None:
                out = Output(Path(tmp) / f"seg{frames}.mp4", ClassicUpscaler(), size)
                run_segmented(JobContext(src), [out], RunOptions(segment_frames=frames))

            return job

        jobs = {"plain": plain} | {f"segmented/{n}": segmented(n) for n in args.segment_frames}
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.repeats):
            for name, job in jobs.items():
                times[name].append(timed(job))
        scan = min(timed(lambda: scan_frames(src)) for _ in range(3))
    best = {name: min(v) for name, v in times.items()}
    rows = []
    for name, t in best.items():
        n = int(name.split("/")[1]) if "/" in name else None
        segments = -(-args.frames // n) if n else 1
        rows.append(
            {
                "job": name,
                "segments": segments,
                "best_s": round(t, 3),
                "all_s": [round(v, 3) for v in times[name]],
                "overhead_pct": round(100 * (t / best["plain"] - 1), 2),
            }
        )
    print(f"{args.frames} frames {w}x{h} -> {args.upscale} lanczos, best of {args.repeats}")
    print(f"{'job':<16}{'segments':>9}{'best s':>9}{'overhead':>10}")
    for r in rows:
        print(f"{r['job']:<16}{r['segments']:>9}{r['best_s']:>9.2f}{r['overhead_pct']:>9.1f}%")
    print(f"timestamp scan alone: {scan * 1000:.1f} ms")
    result = {
        "frames": args.frames,
        "input": f"{w}x{h}",
        "upscale": args.upscale,
        "repeats": args.repeats,
        "rows": rows,
        "scan_ms": round(scan * 1000, 2),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "load": os.getloadavg()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
