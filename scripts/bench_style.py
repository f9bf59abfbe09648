"""Benchmark the embedded style backend: speed per frame and warping error with/without temporal.

Prints a table and writes JSON (``--out``, default ``bench-results/bench_style.json``).

Speed: ms per frame of the style nets at 960x540 and 1920x1080 (built-in style and style image),
of the temporal step alone (the shared stabiliser's ``prepare`` + ``blend``; flow excluded) and
of the flow analysis the pipeline does per frame pair (two DIS flows + consistency mask at
640 px long side).
Quality: warping error (Lai et al., temporal.warp_error: the mean and the worst pair over the
mean), PSNR to the per-frame result (mean and worst frame) and detail retention against it
(gradient energy, mean and worst frame) on a real clip (imageio's ``cockatoo.mp4``, fetched with
``apt-get download python3-imageio`` when no ``--video`` is given), falling back to a synthetic
pan over a real photo. ``--compare`` prints an earlier run's quality rows beside this one's
(e.g. this script run on an older checkout: it uses only ``StyleRestyler``'s options there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image
from skimage import data

import temporal
from vidx.analysis import analysis_frame
from vidx.frame import FrameContext
from vidx.restyle.style import StyleRestyler

SIZES = ((960, 540), (1920, 1080))
ANALYSIS_SIDE = 640


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def find_cockatoo(workdir: Path) -> Path | None:
    """imageio's sample clip, from the Debian package, without installing it."""
    try:
        subprocess.run(
            ["apt-get", "download", "python3-imageio"],
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=120,
        )
        deb = next(workdir.glob("python3-imageio_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(workdir / "x")], check=True, timeout=60)
        return next((workdir / "x").rglob("cockatoo.mp4"))
    except (OSError, subprocess.SubprocessError, StopIteration):
        return None


def read_clip(path: Path, n: int, side: int) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(analysis_frame(frame.to_ndarray(format="rgb24"), side))
            if len(frames) == n:
                break
    return frames


def synthetic_pan(n: int, size=(640, 360)) -> list[np.ndarray]:
    big = cv2.resize(data.astronaut(), (size[0] + 4 * n, size[1] + 2 * n))
    return [
        cv2.warpAffine(big, np.float32([[1, 0, -3 * t], [0, 1, -1.5 * t]]), size) for t in range(n)
    ]


def contexts(frames: list[np.ndarray]) -> list[FrameContext]:
    """As the pipeline's Analyzer: flow cur -> prev at the analysis size, consistency mask."""
    out = [FrameContext(0, frames[0], keyframe=True)]
    for t in range(1, len(frames)):
        a, b = (
            analysis_frame(frames[t], ANALYSIS_SIDE),
            analysis_frame(frames[t - 1], ANALYSIS_SIDE),
        )
        back, fwd = temporal.flow(a, b), temporal.flow(b, a)
        mask = temporal.consistency_mask(back, fwd)
        out.append(FrameContext(t, frames[t], keyframe=False, flow=back, mask=mask))
    return out


def timed(fn, reps: int) -> tuple[float, float]:
    """(best, median) ms of ``reps`` calls after one warm-up call (best: least disturbed)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(min(times), 1), round(statistics.median(times), 1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def speed(style_image: Path, reps: int) -> list[dict]:
    rows = []
    photo = data.astronaut()
    for w, h in SIZES:
        big = cv2.resize(photo, (w + 6, h + 3))
        frames = [np.ascontiguousarray(big[t : t + h, 2 * t : 2 * t + w]) for t in range(2)]
        ctx1 = contexts(frames)[1]
        flow_ms = timed(lambda f=frames: contexts(f), reps)
        variants: list[tuple[str, dict]] = [
            ("style 3", {"style": "3", "max_side": None}),
            ("style image", {"style_image": style_image, "max_side": None}),
        ]
        if max(w, h) > 1024:
            variants.append(("style 3 @1024", {"style": "3", "max_side": 1024}))
        for label, kw in variants:
            plain = StyleRestyler(**kw, temporal=False)
            net_ms = timed(lambda r=plain, f=frames, c=ctx1: r(f[1], c), reps)
            steady = StyleRestyler(**kw)
            work = plain(frames[1], ctx1)  # the per-frame output, at the work size
            size = (work.shape[1], work.shape[0])
            source = cv2.resize(frames[1], size, interpolation=cv2.INTER_AREA)

            def fuse(r=steady, work=work, source=source, c=ctx1):
                p = r.propagator
                p.prev_output, p.prev_source = work, source
                p.blend(p.prepare(source, c.flow, c.mask), work, r.temporal_weight)

            fuse_ms = timed(fuse, reps)
            rows.append(
                {
                    "size": f"{w}x{h}",
                    "model": label,
                    "work_size": f"{work.shape[1]}x{work.shape[0]}",
                    "net_ms": net_ms,
                    "temporal_fusion_ms": fuse_ms,
                    "flow_ms": flow_ms,
                }
            )
    return rows


def frame_scores(out: list[np.ndarray], per_frame: list[np.ndarray]) -> dict:
    """PSNR and detail retention of ``out`` against the per-frame output, mean and worst
    frame, over the frames after the first (frame 0 is the per-frame result by construction)."""
    pairs = list(zip(out[1:], per_frame[1:], strict=True))
    ps = [psnr(a, b) for a, b in pairs]
    dr = [temporal.detail_retention(a, b) for a, b in pairs]
    return {
        "psnr_to_per_frame": round(float(np.mean(ps)), 2),
        "psnr_min": round(float(np.min(ps)), 2),
        "detail_retention": round(float(np.mean(dr)), 3),
        "detail_retention_min": round(float(np.min(dr)), 3),
    }


def farneback_flows(frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """An independent ruler's flows (Farneback, not the DIS family the backend follows): the
    backward flow and its consistency mask of each pair."""
    out = []
    for t in range(1, len(frames)):
        back = temporal.flow(frames[t], frames[t - 1], "farneback")
        mask = temporal.consistency_mask(back, temporal.flow(frames[t - 1], frames[t], "farneback"))
        out.append((back, mask))
    return out


def warp_scores(
    frames: list[np.ndarray], out: list[np.ndarray], ruler: list[tuple[np.ndarray, np.ndarray]]
) -> dict:
    pairs = list(temporal.warp_error_pairs(frames, out))
    mean = float(np.mean(pairs))
    other = [
        temporal.exact_pair_warp_error(out[t], out[t + 1], back, mask=mask)
        for t, (back, mask) in enumerate(ruler)
    ]
    return {
        "warp_error": mean,
        "worst_pair": float(np.max(pairs)),
        "worst_over_mean": round(float(np.max(pairs)) / mean, 2),
        "warp_error_farneback": float(np.nanmean([np.nan if e is None else e for e in other])),
    }


def quality(
    frames: list[np.ndarray], style_image: Path, weights: dict[str, list[float]]
) -> list[dict]:
    ctxs = contexts(frames)
    ruler = farneback_flows(frames)
    rows = []
    variants = [
        ("style 3", {"style": "3"}),
        ("style 12", {"style": "12"}),
        ("style image", {"style_image": style_image}),
    ]
    for label, kw in variants:
        plain = StyleRestyler(**kw, temporal=False, max_side=None)
        per_frame = [plain(c.source, c) for c in ctxs]
        base = warp_scores(frames, per_frame, ruler)
        rows.append({"model": label, "temporal_weight": None, **base})
        for weight in weights[label]:
            steady = StyleRestyler(**kw, temporal_weight=weight, max_side=None)
            out = [steady(c.source, c) for c in ctxs]
            row = {"model": label, "temporal_weight": weight, **warp_scores(frames, out, ruler)}
            rows.append({**row, **frame_scores(out, per_frame)})
        for row in rows[-len(weights[label]) - 1 :]:
            row["reduction_pct"] = round(100 * (1 - row["warp_error"] / base["warp_error"]), 1)
            far = row["warp_error_farneback"] / base["warp_error_farneback"]
            row["reduction_farneback_pct"] = round(100 * (1 - far), 1)
    return rows


def print_quality(rows: list[dict], before: list[dict] | None) -> None:
    """The quality table; with ``before`` (an earlier run's rows), its row of the same model
    and weight first, marked ``before``."""
    head = (
        f"{'run':>6} {'model':>12} {'weight':>7} {'warp err':>9} {'reduction':>9} {'(Farn.)':>7} "
    )
    print(head + f"{'worst/mean':>10} {'PSNR dB':>8} {'min':>6} {'DR':>6} {'DR min':>6}")

    def line(run: str, r: dict) -> None:
        weight = "off" if r["temporal_weight"] is None else r["temporal_weight"]
        cells = [r.get(k, "-") for k in ("psnr_to_per_frame", "psnr_min")]
        cells += [r.get(k, "-") for k in ("detail_retention", "detail_retention_min")]
        worst, farn = r.get("worst_over_mean", "-"), r.get("reduction_farneback_pct", "-")
        print(
            f"{run:>6} {r['model']:>12} {weight:>7} {r['warp_error']:>9.5f} "
            f"{r['reduction_pct']:>8}% {farn:>7} {worst:>10} {cells[0]:>8} {cells[1]:>6} "
            f"{cells[2]:>6} {cells[3]:>6}"
        )

    for r in rows:
        key = (r["model"], r["temporal_weight"])
        for b in before or []:
            if (b["model"], b["temporal_weight"]) == key and r["temporal_weight"] is not None:
                line("before", b)
        line("now", r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_style.json"))
    parser.add_argument("--video", type=Path, default=None, help="clip for the warping error")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", choices=("all", "speed", "quality"), default="all")
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=[0.5, 0.6, 0.8, 0.9],
        help="temporal_weight values for style 3 (the others take the default and 0.8)",
    )
    parser.add_argument("--compare", type=Path, default=None, help="an earlier run's JSON")
    args = parser.parse_args()
    default = StyleRestyler.__init__.__kwdefaults__["temporal_weight"]
    weights = {
        "style 3": sorted(set(args.weights)),
        "style 12": sorted({default, 0.8}),
        "style image": sorted({default, 0.8}),
    }

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        style_image = tmp / "coffee.png"
        Image.fromarray(data.coffee()).save(style_image)
        video = args.video or find_cockatoo(tmp)
        if video is not None:
            frames, clip = read_clip(video, args.frames, ANALYSIS_SIDE), video.name
        else:
            frames, clip = synthetic_pan(args.frames), "synthetic pan of skimage astronaut"
        speed_rows = speed(style_image, args.reps) if args.only != "quality" else []
        quality_rows = quality(frames, style_image, weights) if args.only != "speed" else []

    h, w = frames[0].shape[:2]
    result = {
        "machine": {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu_name()},
        "providers": StyleRestyler("0").describe()["providers"],
        "speed": speed_rows,
        "clip": {"name": clip, "frames": len(frames), "size": f"{w}x{h}"},
        "quality": quality_rows,
        "default_temporal_weight": default,
    }
    print(
        f"machine: {result['machine']['nproc']} cpu x {result['machine']['cpu']}, "
        f"providers {result['providers']}"
    )
    print("\nms per frame, best / median of --reps (stabiliser excludes flow; flow = 2 DIS + mask)")
    print(f"{'frame':>10} {'model':>14} {'work':>9} {'net':>15} {'fusion':>13} {'flow':>13}")
    for r in speed_rows:
        net, fus, flo = (
            f"{r[k][0]} / {r[k][1]}" for k in ("net_ms", "temporal_fusion_ms", "flow_ms")
        )
        print(f"{r['size']:>10} {r['model']:>14} {r['work_size']:>9} {net:>15} {fus:>13} {flo:>13}")
    print(f"\nclip: {clip}, {len(frames)} frames at {w}x{h}; default weight {default}")
    before = json.loads(args.compare.read_text())["quality"] if args.compare else None
    print_quality(quality_rows, before)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
