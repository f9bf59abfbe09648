"""Benchmark temporal.flow: time per frame pair and end-point error on known motion.

Prints a table and writes JSON (``--out``, default ``bench-results/bench_flow.json``).

Speed: ms per ``flow(src, dst)`` call at 960x540 and 1920x1080 (a real photo resized to that
size, panned by a few pixels) for DIS presets ultrafast / fast / medium / fine and Farneback, at
analysis scales 1.0, 0.5 and 0.25 (scale < 1 includes the INTER_AREA shrink and the flow resize
back). RAFT is timed only when ``--raft-weights`` names a local torchvision state dict.

Accuracy: mean end-point error (px, 16 px border excluded) on clips with exact known motion
built from real photos (skimage astronaut, chelsea, coffee) with cv2.warpAffine: subpixel pan
(2.37, -1.62), 3% zoom and 1.5 degree rotation about the centre -- the same clips as the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

import temporal

SIZES = ((960, 540), (1920, 1080))
SCALES = (1.0, 0.5, 0.25)
METHODS = (
    ("dis", "ultrafast"),
    ("dis", "fast"),
    ("dis", "medium"),
    ("dis", "fine"),
    ("farneback", "-"),
)
MARGIN = 16


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def label(method: str, preset: str) -> str:
    return method if preset == "-" else f"{method}/{preset}"


def call(method: str, preset: str, a: np.ndarray, b: np.ndarray, scale: float, raft: str | None):
    kw: dict = {"scale": scale}
    if method == "dis":
        kw["preset"] = preset
    if method == "raft":
        kw["raft_weights"] = raft
    return temporal.flow(a, b, method, **kw)


def timing_pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    img = cv2.resize(data.coffee(), (width + 64, height + 64), interpolation=cv2.INTER_CUBIC)
    dx, dy = round(7 * width / 960), round(3 * width / 960)
    a = np.ascontiguousarray(img[32 : 32 + height, 32 : 32 + width])
    b = np.ascontiguousarray(img[32 + dy : 32 + dy + height, 32 + dx : 32 + dx + width])
    return a, b


def known_motion_clips() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    clips = []
    for name, img in (
        ("astronaut", data.astronaut()),
        ("chelsea", data.chelsea()),
        ("coffee", data.coffee()),
    ):
        h, w = img.shape[:2]
        c = (w / 2 - 0.5, h / 2 - 0.5)
        for motion, m in (
            ("pan", np.array([[1.0, 0.0, 2.37], [0.0, 1.0, -1.62]])),
            ("zoom", cv2.getRotationMatrix2D(c, 0.0, 1.03)),
            ("rotation", cv2.getRotationMatrix2D(c, 1.5, 1.0)),
        ):
            dst = cv2.warpAffine(
                img, m.astype(np.float32), (w, h), flags=cv2.INTER_CUBIC,
                borderMode=cv2.BORDER_REFLECT,
            )  # fmt: skip
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
            gt = np.dstack(
                [
                    m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs,
                    m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys,
                ]
            ).astype(np.float32)
            clips.append((f"{name}/{motion}", img, dst, gt))
    return clips


def epe(f: np.ndarray, gt: np.ndarray) -> float:
    d = (f - gt)[MARGIN:-MARGIN, MARGIN:-MARGIN]
    return float(np.linalg.norm(d, axis=2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-results/bench_flow.json")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per configuration")
    ap.add_argument("--raft-weights", default=None, help="torchvision RAFT state dict to include")
    ap.add_argument("--raft-device", default=None, help="device for RAFT (default cuda if any)")
    args = ap.parse_args()

    methods = list(METHODS) + ([("raft", "-")] if args.raft_weights else [])
    speed = []
    for width, height in SIZES:
        a, b = timing_pair(width, height)
        for method, preset in methods:
            for scale in SCALES:
                call(method, preset, a, b, scale, args.raft_weights)  # warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    call(method, preset, a, b, scale, args.raft_weights)
                    times.append((time.perf_counter() - t0) * 1000)
                row = {
                    "size": f"{width}x{height}",
                    "method": label(method, preset),
                    "scale": scale,
                    "ms_median": statistics.median(times),
                    "ms_min": min(times),
                }
                speed.append(row)
                print(
                    f"{row['size']:>10} {row['method']:>14} @{scale:<4} {row['ms_median']:8.1f} ms"
                )

    clips = known_motion_clips()
    accuracy = []
    for method, preset in methods:
        for scale in (1.0, 0.5):
            per = {name: epe(call(method, preset, a, b, scale, args.raft_weights), gt)
                   for name, a, b, gt in clips}  # fmt: skip
            accuracy.append(
                {
                    "method": label(method, preset),
                    "scale": scale,
                    "epe_mean": float(np.mean(list(per.values()))),
                    "epe_max": max(per.values()),
                    "per_clip": per,
                }
            )

    print()
    print("ms per flow() call (median of", args.repeats, "), then mean/max EPE in px")
    header = f"{'method':>14} | " + " | ".join(f"{w}x{h} @{s}" for w, h in SIZES for s in SCALES)
    print(header)
    for method, preset in methods:
        lab = label(method, preset)
        cells = [
            next(
                r
                for r in speed
                if r["method"] == lab and r["size"] == f"{w}x{h}" and r["scale"] == s
            )
            for w, h in SIZES
            for s in SCALES
        ]
        print(f"{lab:>14} | " + " | ".join(f"{c['ms_median']:>14.1f}" for c in cells))
    print()
    for r in accuracy:
        mean, worst = r["epe_mean"], r["epe_max"]
        print(f"{r['method']:>14} @{r['scale']:<4} EPE mean {mean:.3f}  max {worst:.3f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": cpu_name(),
            "opencv": cv2.__version__,
            "opencv_threads": cv2.getNumThreads(),
        },
        "repeats": args.repeats,
        "speed": speed,
        "accuracy": accuracy,
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
