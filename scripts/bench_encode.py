"""Encoder figures (issue 13): 1080p -> 4K Lanczos + x264 ``--preset fast``, vidx against the
``ffmpeg`` command-line tool on the same generated clip, and whether 8K output uses every core.

1. Ratio: ``vidx upscale --size 4k --upscaler lanczos --preset fast --crf 18`` against
   ``ffmpeg -vf scale=3840:2160:flags=lanczos -c:v libx264 -preset fast -crf 18`` (same crf:
   vidx's default is 18, ffmpeg's 23). Both run as fresh processes, alternating, best of
   ``--repeats``; wall time includes process start (what a user waits for). Skipped with a
   note when ``ffmpeg`` is not installed (Debian: ``apt-get install ffmpeg``).
2. Cores: CPU time / wall of ``vidx upscale --size 8k`` (children included), against
   ``os.cpu_count()``.
3. Quality of the resize vidx uses (libswscale Lanczos in YUV) against the RGB path it replaced
   (YUV -> RGB, OpenCV Lanczos, RGB -> YUV), before encoding: worst PSNR over the Y, U and V
   planes, on the clip (a pan over a real photo) and on the tests' synthetic colour pattern.

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_encode.py [--frames 24] [--repeats 2] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.make_sample import pan_zoom_roll  # noqa: E402
from tests.conftest import make_clip  # noqa: E402
from vidx.io.colour import Colour, from_rgb, to_rgb  # noqa: E402
from vidx.io.writer import resample  # noqa: E402

VIDX = [sys.executable, "-m", "vidx"]


def run_measured(cmd: list[str]) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system of the child) and cores busy for ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} failed: {err}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "cores_busy": cpu / wall}


def vidx_cmd(src: Path, dst: Path, size: str) -> list[str]:
    return [
        *VIDX, "upscale", str(src), "-o", str(dst), "--size", size, "--upscaler", "lanczos",
        "--preset", "fast", "--crf", "18", "--overwrite",
    ]  # fmt: skip


def ffmpeg_cmd(src: Path, dst: Path) -> list[str]:
    return [
        "ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", "scale=3840:2160:flags=lanczos",
        "-c:v", "libx264", "-preset", "fast", "-crf", "18", str(dst),
    ]  # fmt: skip


def resize_psnr(src: Path, size: tuple[int, int], frames: int = 3) -> float:
    """Worst PSNR (dB, over Y, U, V) of the libswscale YUV resize against the RGB path."""
    worst = float("inf")
    with av.open(str(src)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= frames:
                break
            colour = Colour.of(frame).resolved(frame.width, frame.height)
            rgb = cv2.resize(to_rgb(frame), size, interpolation=cv2.INTER_LANCZOS4)
            old = from_rgb(rgb, "yuv420p", colour)
            new = resample(frame, size, "lanczos", "yuv420p", colour)
            a, b = old.to_ndarray().astype(np.float64), new.to_ndarray()  # Y, U, V stacked
            mse = float(np.mean((a - b) ** 2))
            worst = min(worst, 10 * np.log10(255.0**2 / max(mse, 1e-12)))
    return worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", default="1920x1080", help="source size WxH")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "encode.json")
    parser.add_argument("--no-8k", action="store_true", help="skip the 8K cores figure")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    results: dict = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load": os.getloadavg(),
        "frames": args.frames,
        "source": args.size,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = data.astronaut()
        frames = args.frames

        def camera(i: int, w: int, h: int) -> np.ndarray:
            return pan_zoom_roll(photo, i / max(1, frames - 1), (w, h))

        src = make_clip(work / "src.mp4", frames, (width, height), fps=24, image=camera)
        results["resize_psnr_db"] = resize_psnr(src, (3840, 2160))
        stress = make_clip(work / "pattern.mp4", 3, (width, height), fps=24)
        results["resize_psnr_pattern_db"] = resize_psnr(stress, (3840, 2160))
        have_ffmpeg = shutil.which("ffmpeg") is not None
        runs: dict[str, list[dict[str, float]]] = {"vidx": [], "ffmpeg": []}
        for _ in range(args.repeats):
            runs["vidx"].append(run_measured(vidx_cmd(src, work / "vidx.mp4", "4k")))
            if have_ffmpeg:
                runs["ffmpeg"].append(run_measured(ffmpeg_cmd(src, work / "ffmpeg.mp4")))
        for name, items in runs.items():
            if items:
                results[name] = min(items, key=lambda r: r["wall_s"])
        if have_ffmpeg:
            results["ratio"] = results["vidx"]["wall_s"] / results["ffmpeg"]["wall_s"]
            results["cpu_ratio"] = results["vidx"]["cpu_s"] / results["ffmpeg"]["cpu_s"]
        else:
            results["note"] = "ffmpeg not installed: no ratio (apt-get install ffmpeg)"
        if not args.no_8k:
            results["vidx_8k"] = run_measured(vidx_cmd(src, work / "vidx8k.mp4", "8k"))
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


def print_table(results: dict) -> None:
    frames = results["frames"]
    print(f"{results['source']} -> 4K, {frames} frames, {results['cores']} cores, "
          f"load {results['load'][0]:.2f}")  # fmt: skip
    print(f"{'run':<10} {'wall s':>8} {'fps':>7} {'cpu s':>8} {'cores busy':>10}")
    for name in ("vidx", "ffmpeg", "vidx_8k"):
        r = results.get(name)
        if r:
            print(
                f"{name:<10} {r['wall_s']:>8.2f} {frames / r['wall_s']:>7.2f} "
                f"{r['cpu_s']:>8.2f} {r['cores_busy']:>10.2f}"
            )
    if "ratio" in results:
        print(
            f"vidx / ffmpeg wall time: {results['ratio']:.3f}, CPU time: {results['cpu_ratio']:.3f}"
        )
    else:
        print(results.get("note", ""))
    print(
        f"resize PSNR, swscale YUV vs the RGB path: {results['resize_psnr_db']:.2f} dB (photo), "
        f"{results['resize_psnr_pattern_db']:.2f} dB (synthetic colour pattern)"
    )


if __name__ == "__main__":
    main()
