"""Benchmark the embedded style backend: speed per frame and warping error with/without temporal.

Prints a table and writes JSON (``--out``, default ``bench-results/bench_style.json``).

Speed: ms per frame of the style nets at 960x540 and 1920x1080 (built-in style and style image),
of the temporal fusion step alone (warp + feathered fuse; flow excluded) and of the flow analysis
the pipeline does per frame pair (two DIS flows + consistency mask at 640 px long side).
Quality: warping error (Lai et al., temporal.warp_error) and PSNR to the per-frame result on a
real clip (imageio's ``cockatoo.mp4``, fetched with ``apt-get download python3-imageio`` when no
``--video`` is given), falling back to a synthetic pan over a real photo.
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
            work = plain(frames[1], ctx1)
            fresh = steady.stylize(work)

            def fuse(r=steady, fresh=fresh, c=ctx1):
                r.state.previous = fresh
                r.state.step(fresh, c)

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


def quality(frames: list[np.ndarray], style_image: Path) -> list[dict]:
    ctxs = contexts(frames)
    rows = []
    variants = [
        ("style 3", {"style": "3"}, [0.5, 0.8, 0.9]),
        ("style 12", {"style": "12"}, [0.8]),
        ("style image", {"style_image": style_image}, [0.8]),
    ]
    for label, kw, weights in variants:
        plain = StyleRestyler(**kw, temporal=False, max_side=None)
        per_frame = [plain(c.source, c) for c in ctxs]
        base = temporal.warp_error(frames, per_frame)
        rows.append(
            {"model": label, "temporal_weight": None, "warp_error": base, "psnr_to_per_frame": None}
        )
        for weight in weights:
            steady = StyleRestyler(**kw, temporal_weight=weight, max_side=None)
            out = [steady(c.source, c) for c in ctxs]
            rows.append(
                {
                    "model": label,
                    "temporal_weight": weight,
                    "warp_error": temporal.warp_error(frames, out),
                    "psnr_to_per_frame": round(
                        float(
                            np.mean(
                                [psnr(a, b) for a, b in zip(out[1:], per_frame[1:], strict=True)]
                            )
                        ),
                        2,
                    ),
                }
            )
        for row in rows[-len(weights) - 1 :]:
            row["reduction_pct"] = round(100 * (1 - row["warp_error"] / base), 1)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_style.json"))
    parser.add_argument("--video", type=Path, default=None, help="clip for the warping error")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", choices=("all", "speed", "quality"), default="all")
    args = parser.parse_args()

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
        quality_rows = quality(frames, style_image) if args.only != "speed" else []

    h, w = frames[0].shape[:2]
    result = {
        "machine": {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu_name()},
        "providers": StyleRestyler("0").describe()["providers"],
        "speed": speed_rows,
        "clip": {"name": clip, "frames": len(frames), "size": f"{w}x{h}"},
        "quality": quality_rows,
    }
    print(
        f"machine: {result['machine']['nproc']} cpu x {result['machine']['cpu']}, "
        f"providers {result['providers']}"
    )
    print("\nms per frame, best / median of --reps (fusion excludes flow; flow = 2 DIS + mask)")
    print(f"{'frame':>10} {'model':>14} {'work':>9} {'net':>15} {'fusion':>13} {'flow':>13}")
    for r in speed_rows:
        net, fus, flo = (
            f"{r[k][0]} / {r[k][1]}" for k in ("net_ms", "temporal_fusion_ms", "flow_ms")
        )
        print(f"{r['size']:>10} {r['model']:>14} {r['work_size']:>9} {net:>15} {fus:>13} {flo:>13}")
    print(f"\nclip: {clip}, {len(frames)} frames at {w}x{h}")
    print(f"{'model':>12} {'weight':>7} {'warp err':>10} {'reduction':>10} {'PSNR dB':>8}")
    for r in quality_rows:
        weight = "off" if r["temporal_weight"] is None else r["temporal_weight"]
        p = "-" if r["psnr_to_per_frame"] is None else r["psnr_to_per_frame"]
        print(
            f"{r['model']:>12} {weight:>7} {r['warp_error']:>10.5f} {r['reduction_pct']:>9}% {p:>8}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
