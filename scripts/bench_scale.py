"""Benchmark scale-out on Ray: throughput with 1 and 2 workers, and the figures of the model in
docs/SCALING.md (per-segment overhead, warm-up cost, bytes per frame moved).

Prints a table and writes JSON (``--out``, default ``bench-results/bench_scale.json``).

Job: a generated clip (``--size``, ``--frames``, 24 fps, AAC audio) restyled with embedded style
3 (model work dominates: the style net runs on every frame at the source size), in
``--segment-frames`` segments, default analysis (DIS medium at 640 px) and warm-up, default
encode. Each Ray run starts its own local instance (``--workers W --threads-per-worker T``);
``render`` is the time from the workers being ready to the last segment done, ``total`` the
whole ``vidx.render`` call (Ray start, model loading in every worker, remux, Ray stop).

In-process runs (``--threads``, default 1, as one worker) give the model's terms: ``straight``
(one piece), ``segmented, no warm-up`` and ``segmented`` (default warm-up), so per-segment
overhead = (segmented, no warm-up - straight) / segments and warm-up cost per frame =
(segmented - segmented, no warm-up) / warm-up frames, in wall and in CPU seconds.
The load average (``os.getloadavg``) is recorded before every run: the machine may be shared.

``--backend diffusion`` restyles with the tiny diffusion model instead (built here from its
config; ``--work-size``, 4 steps, strength 0.6), whose segments are carried (``--seams
carry``): within a shot they render one after another, so ``--shots K`` cuts the generated
clip into K shots (each a new pattern) to measure shots rendering side by side. Use
``--no-model`` with it (the in-process terms are the style backend's).
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

import vidx  # noqa: E402
from tests.conftest import make_clip, pattern  # noqa: E402
from vidx.io.reader import Trim  # noqa: E402
from vidx.io.remux import scan_frames  # noqa: E402
from vidx.jobs.segment_plan import find_cuts, plan_segments  # noqa: E402
from vidx.options import AnalysisOptions  # noqa: E402
from vidx.scale.worker import set_threads  # noqa: E402


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def load() -> float:
    return round(os.getloadavg()[0], 2)


BACKEND: dict[str, object] = {"style": "3"}  # what restyles (main sets diffusion's options)


def shots_of(frames: int, shots: int):  # type: ignore[no-untyped-def]
    """An image function for make_clip: the moving pattern, a new shot every frames/shots."""
    length = max(1, frames // max(1, shots))

    def image(index: int, width: int, height: int):  # type: ignore[no-untyped-def]
        shot = min(index // length, shots - 1)
        picture = pattern(index + 37 * shot, width, height)
        return picture if shot % 2 == 0 else 255 - picture

    return image


def render(src: Path, out: Path, **options: object) -> dict:
    """One vidx.render with its wall time, the progress times and the load before it."""
    seen: list = []
    before = load()
    start, cpu = time.perf_counter(), time.process_time()
    result = vidx.render(src, out, **BACKEND, overwrite=True, on_progress=seen.append, **options)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    ray = [p for p in seen if hasattr(p, "segments")]
    row = {"total_s": round(total, 2), "cpu_s": round(cpu, 2), "frames": result.frames}
    row["load_before"] = before
    if ray:
        row["ready_s"] = round(ray[0].elapsed, 2)
        row["render_s"] = round(ray[-1].elapsed - ray[0].elapsed, 2)
        row["segments_per_worker"] = list(ray[-1].segments.values())
        row["worker_cpu_s"] = round(ray[-1].cpu_s, 2)
    row["bytes_per_frame"] = round(out.stat().st_size / result.frames)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="480x270")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--segment-frames", type=int, default=24)
    parser.add_argument("--configs", nargs="+", default=["1x1", "2x1"], help="WORKERSxTHREADS")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-model", action="store_true", help="skip the in-process runs")
    parser.add_argument("--no-ray", action="store_true", help="only the in-process runs")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads of the in-process runs (as a worker)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_scale.json")
    parser.add_argument("--backend", choices=["style", "diffusion"], default="style")
    parser.add_argument("--shots", type=int, default=1, help="shots in the generated clip")
    parser.add_argument("--work-size", type=int, default=128, help="diffusion work size")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    if args.backend == "diffusion":
        from scripts.make_tiny_model import build_tiny_model

        model = build_tiny_model(work / "tiny-sd")
        BACKEND.clear()
        BACKEND.update(
            model=str(model), prompt="an oil painting", steps=4, strength=0.6,
            work_size=args.work_size,
        )  # fmt: skip
    image = shots_of(args.frames, args.shots)
    src = make_clip(work / "in.mp4", frames=args.frames, size=(w, h), audio=True, image=image)
    cuts = find_cuts(src, Trim(), AnalysisOptions()) if args.backend == "diffusion" else []
    segments = plan_segments(scan_frames(src), args.segment_frames, cuts=cuts)
    warm = AnalysisOptions().warmup_frames
    warm_frames = sum(min(warm, s.first) for s in segments)
    rows: list[dict] = []
    for rep in range(args.repeats):
        for config in [] if args.no_ray else args.configs:
            workers, threads = (int(v) for v in config.split("x"))
            row = render(
                src,
                work / f"w{config}.mp4",
                segment_frames=args.segment_frames,
                workers=workers,
                threads_per_worker=threads,
            )
            rows.append({"job": f"ray {config}", "repeat": rep, **row})
            print(rows[-1], flush=True)
        if args.no_model:
            continue
        set_threads(args.threads)  # as a worker with --threads-per-worker N
        for name, options in (
            ("straight", {"segment_frames": 0}),
            ("segmented, no warm-up", {"segment_frames": args.segment_frames, "warmup_frames": 0}),
            ("segmented", {"segment_frames": args.segment_frames}),
        ):
            row = render(src, work / "here.mp4", **options)  # type: ignore[arg-type]
            rows.append({"job": name, "repeat": rep, **row})
            print(rows[-1], flush=True)
    best: dict[str, dict] = {}
    for row in rows:
        key = "render_s" if "render_s" in row else "total_s"
        if row["job"] not in best or row[key] < best[row["job"]][key]:
            best[row["job"]] = row
    figures: dict[str, float] = {}
    one, two = best.get("ray 1x1"), best.get("ray 2x1")
    if one and two:
        figures["speedup_render_2x1_over_1x1"] = round(one["render_s"] / two["render_s"], 2)
        figures["speedup_total_2x1_over_1x1"] = round(one["total_s"] / two["total_s"], 2)
    if {"straight", "segmented, no warm-up", "segmented"} <= set(best):
        for key, unit in (("total_s", "s"), ("cpu_s", "cpu_s")):
            st, s0, s = (best[k][key] for k in ("straight", "segmented, no warm-up", "segmented"))
            figures[f"frame_{unit}"] = round(st / args.frames, 4)
            figures[f"segment_overhead_{unit}"] = round((s0 - st) / len(segments), 3)
            figures[f"warmup_frame_{unit}"] = round((s - s0) / max(1, warm_frames), 4)
    if one and two:
        figures["worker_cpu_s_1x1"] = one["worker_cpu_s"]
        figures["worker_cpu_s_2x1"] = two["worker_cpu_s"]
    print(f"\n{args.frames} frames {args.size}, {len(segments)} segments, warm-up {warm}")
    print(f"{'job':24} {'total s':>8} {'ready s':>8} {'render s':>9} {'load':>6}")
    for name, row in best.items():
        print(
            f"{name:24} {row['total_s']:8.2f} {row.get('ready_s', float('nan')):8.2f} "
            f"{row.get('render_s', float('nan')):9.2f} {row['load_before']:6.2f}"
        )
    for name, value in figures.items():
        print(f"{name}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version.split()[0]},
        "job": {
            "backend": BACKEND,
            "shots": args.shots,
            "size": args.size,
            "frames": args.frames,
            "segment_frames": args.segment_frames,
            "segments": len(segments),
            "cuts": cuts,
            "warmup_frames": warm,
        },
        "runs": rows,
        "figures": figures,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
