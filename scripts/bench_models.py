"""Benchmark vidx's learned models, section by section (``--only upscale``).

Prints a table and writes JSON (``--out``, default ``bench-results/bench_models.json``).

Section ``upscale``:
- speed: ms per frame and per input megapixel of ``esrgan`` (x4plus) and ``esrgan-anime``
  (animevideov3) at a x4 target on small real-photo inputs, on the CPU in fp32 and, when CUDA is
  available, on the GPU in fp16;
- tiles: tiled vs untiled output (max / mean abs difference, mean at tile boundaries vs
  elsewhere) at the automatic overlap;
- memory: peak RSS of one ``esrgan-anime`` x4 upscale in a fresh subprocess, next to the same
  process that only loads the model, as a baseline. ``--rss-sizes 1920x1080`` gives a true 8K
  (7680x4320) output. The figure is the child's ``VmHWM`` (/proc/self/status): Linux carries the
  parent's high-water mark into a forked+exec'd child's ``ru_maxrss`` (and so into
  ``RUSAGE_CHILDREN``), which would report this script's own footprint instead; the
  ``RUSAGE_CHILDREN`` value is kept in the JSON for reference.

Other sections (e.g. a ``style`` one) plug into ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data

from vidx.upscale.esrgan import load_esrgan
from vidx.upscale.tiling import default_overlap, run_tiled

ROOT = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def photo(width: int, height: int) -> np.ndarray:
    """A real photo (skimage astronaut, 512x512) resized to ``width x height``."""
    image = data.astronaut()
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def time_call(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def upscale_speed(args: argparse.Namespace) -> list[dict]:
    rows = []
    devices = [("cpu", "fp32")] + ([("cuda", "fp16")] if torch.cuda.is_available() else [])
    for device, dtype in devices:
        for name, sizes in (("esrgan-anime", args.anime_sizes), ("esrgan", args.x4plus_sizes)):
            upscaler = load_esrgan(name, device=device, dtype=dtype)
            for width, height in sizes:
                image = photo(width, height)
                repeats = args.repeats if width * height <= 160 * 90 or device == "cuda" else 1
                call = partial(upscaler, image, (4 * width, 4 * height))
                seconds = time_call(call, repeats)
                rows.append(
                    {
                        "model": name,
                        "device": device,
                        "dtype": dtype,
                        "input": f"{width}x{height}",
                        "output": f"{4 * width}x{4 * height}",
                        "tile": upscaler.tile,
                        "repeats": repeats,
                        "ms_per_frame": 1000 * seconds,
                        "ms_per_input_mpx": 1000 * seconds / (width * height / 1e6),
                    }
                )
    return rows


def upscale_tiles(args: argparse.Namespace) -> list[dict]:
    rows = []
    for name, (width, height), tile in (
        ("esrgan-anime", (256, 144), 64),
        ("esrgan", (128, 96), 48),
    ):
        descriptor = load_esrgan(name, device="cpu", tile=0).descriptor
        image = photo(width, height)
        whole = run_tiled(descriptor, image, 0).astype(np.int16)
        overlap = default_overlap(descriptor)
        tiled = run_tiled(descriptor, image, tile, overlap).astype(np.int16)
        diff = np.abs(tiled - whole).max(axis=2)
        ys = [round(i * height / -(-height // tile)) * 4 for i in range(1, -(-height // tile))]
        xs = [round(i * width / -(-width // tile)) * 4 for i in range(1, -(-width // tile))]
        near = np.zeros(diff.shape, bool)
        for y in ys:
            near[y - 4 : y + 4] = True
        for x in xs:
            near[:, x - 4 : x + 4] = True
        rows.append(
            {
                "model": name,
                "input": f"{width}x{height}",
                "tile": tile,
                "overlap": overlap,
                "max_abs_diff": int(diff.max()),
                "mean_abs_diff": float(diff.mean()),
                "mean_diff_at_boundaries": float(diff[near].mean()),
                "mean_diff_elsewhere": float(diff[~near].mean()),
            }
        )
    return rows


CHILD = """
import sys, time
import cv2, numpy as np
from skimage import data
from vidx.upscale.esrgan import load_esrgan
name, w, h, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
up = load_esrgan(name, device="cpu")
image = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)
start = time.perf_counter()
out = up(image, (4 * w, 4 * h)) if run else image
seconds = time.perf_counter() - start
status = open("/proc/self/status").read().splitlines()
hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(out.shape[1], out.shape[0], up.tile, seconds, hwm_kb)
"""


def upscale_memory(args: argparse.Namespace) -> list[dict]:
    rows = []
    for width, height in args.rss_sizes:
        for run in (False, True):
            command = [sys.executable, "-c", CHILD, "esrgan-anime", str(width), str(height)]
            result = subprocess.run(
                [*command, str(int(run))],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            out_w, out_h, tile, seconds, hwm_kb = result.stdout.split()
            rows.append(
                {
                    "model": "esrgan-anime",
                    "input": f"{width}x{height}",
                    "output": f"{out_w}x{out_h}" if run else "(load only)",
                    "tile": int(tile),
                    "seconds": float(seconds),
                    "peak_rss_mb": int(hwm_kb) / 1024,
                    "children_max_rss_mb": children_kb / 1024,
                }
            )
    return rows


UPSCALE_PARTS = {"memory": upscale_memory, "speed": upscale_speed, "tiles": upscale_tiles}


def bench_upscale(args: argparse.Namespace) -> dict:
    """Memory first, while this process is still small; then speed and tile agreement."""
    return {part: UPSCALE_PARTS[part](args) for part in args.parts}


def print_table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    print(f"\n{title}")
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()))


SECTIONS: dict[str, Callable[[argparse.Namespace], dict]] = {"upscale": bench_upscale}


def size_list(text: str) -> list[tuple[int, int]]:
    return [(int(w), int(h)) for w, h in (item.split("x") for item in text.split(","))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_models.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parts",
        type=lambda text: text.split(","),
        default=list(UPSCALE_PARTS),
        help="upscale parts to run, comma-separated: " + ",".join(UPSCALE_PARTS),
    )
    parser.add_argument("--anime-sizes", type=size_list, default=size_list("160x90,320x180"))
    parser.add_argument("--x4plus-sizes", type=size_list, default=size_list("160x90,320x180"))
    parser.add_argument("--rss-sizes", type=size_list, default=size_list("480x270"))
    args = parser.parse_args()
    results: dict = {
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "loadavg_start": os.getloadavg(),
        }
    }
    for name in args.only or sorted(SECTIONS):
        results[name] = SECTIONS[name](args)
        for table, rows in results[name].items():
            print_table(f"{name}: {table}", rows)
    results["machine"]["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
