"""Colour figures (issue 12, item 2): CIEDE2000 of colour bars through vidx, tags, 10-bit levels.

1. Colour bars (75 % bars over a grey ramp) in BT.601 SD, BT.709 HD (limited and full range)
   and BT.2020 PQ / HLG 10-bit, each written from YUV made in numpy with its own matrix and
   range; ``vidx upscale --size source`` (the straight transcode) and ``--size x2`` (Lanczos,
   the RGB path: 16-bit for the 10-bit clips) with vidx's default encoder settings. Source and
   output are decoded by the numpy decoder of ``tests/vidx/io/colour_clips.py`` from each
   file's own tags (not by libswscale or vidx); the mean CIEDE2000 over all pixels of all
   frames is reported (the x2 output against the source resized with the same Lanczos, so
   only colour differs). For PQ/HLG the RGB is code values read as sRGB: a difference of code
   values, not a perceptual HDR figure.
2. A 10-bit grey ramp (1024 columns, 877 luma levels) through the same two paths into HEVC
   10-bit: distinct luma levels kept.
3. The 8-bit BT.709 720p conversions per frame: vidx's reader/writer conversions (one swscale
   context per thread, the source's matrix and range) against what vidx did before (a fresh
   context per frame, swscale's default matrix).

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_colour.py [--frames 6] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vidx  # noqa: E402
from scripts.bench_io import machine  # noqa: E402
from tests.vidx.io.colour_clips import (  # noqa: E402
    HD_709,
    HD_709_FULL,
    HLG,
    SD_601,
    UHD_PQ,
    ClipSpec,
    decode_rgb,
    gradient,
    luma_levels,
    mean_ciede2000,
    spec_tags,
    tags,
    write_clip,
)
from vidx.io.colour import Colour, from_rgb, to_rgb  # noqa: E402


def lanczos(frame: np.ndarray, factor: int) -> np.ndarray:
    h, w = frame.shape[:2]
    big = cv2.resize(frame.astype(np.float32), (w * factor, h * factor), cv2.INTER_LANCZOS4)
    return np.clip(big, 0, 1)


def bars_row(tmp: Path, spec: ClipSpec, size: str) -> dict:
    src = tmp / f"{spec.name}{spec.suffix}"
    if not src.exists():
        write_clip(src, spec)
    out = tmp / f"{spec.name}-{size}{spec.suffix}"
    t0 = time.perf_counter()
    vidx.render(src, out, size=size, segment_frames=0, overwrite=True)
    seconds = time.perf_counter() - t0
    source, result = decode_rgb(src), decode_rgb(out)
    if size != "source":
        source = [lanczos(f, 2) for f in source]
    per_frame = [mean_ciede2000(a, b) for a, b in zip(source, result, strict=True)]
    info = vidx.probe(out)
    return {
        "clip": spec.name,
        "size": f"{spec.width}x{spec.height}",
        "frames": spec.frames,
        "vidx_size": size,
        "path": "straight" if size == "source" else f"{16 if spec.bits > 8 else 8}-bit RGB",
        "ciede2000_mean": float(np.mean(per_frame)),
        "ciede2000_worst_frame": float(np.max(per_frame)),
        "tags_equal": tags(out) == spec_tags(spec),
        "tags": tags(out),
        "pix_fmt": info.pix_fmt,
        "seconds": seconds,
    }


def gradient_row(tmp: Path, size: str) -> dict:
    spec = ClipSpec("gradient-10bit", 1024, 64, "libx265", 10, 9, 14, 9, frames=3, suffix=".mkv")
    src = tmp / "gradient.mkv"
    if not src.exists():
        write_clip(src, spec, gradient)
    out = tmp / f"gradient-{size}.mkv"
    vidx.render(src, out, size=size, codec="hevc", segment_frames=0, overwrite=True)
    return {
        "vidx_size": size,
        "source_levels": luma_levels(src),
        "output_levels": luma_levels(out),
        "pix_fmt": vidx.probe(out).pix_fmt,
        "target": 600,
    }


def conversion_speed(tmp: Path, repeats: int = 40) -> dict:
    """ms per 1280x720 frame, best of ``repeats`` rounds of 5 frames."""
    from av.video.reformatter import VideoReformatter

    src = write_clip(tmp / "speed.mp4", replace(HD_709, frames=2))
    with av.open(str(src)) as container:
        frames = list(container.decode(video=0))
    rgb = frames[0].to_ndarray(format="rgb24")
    colour = Colour.of(frames[0])
    reader, writer = VideoReformatter(), VideoReformatter()
    cases = {
        "decode before": lambda f: f.to_ndarray(format="rgb24"),
        "decode vidx": lambda f: to_rgb(f, colour, reformatter=reader),
        "encode before": lambda f: av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709"
        ),
        "encode vidx": lambda f: from_rgb(rgb, "yuv420p", colour, writer),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):
        for name, fn in cases.items():  # interleaved, so load affects all alike
            t0 = time.perf_counter()
            for i in range(5):
                fn(frames[i % len(frames)])
            best[name] = min(best[name], (time.perf_counter() - t0) / 5 * 1000)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6, help="frames per colour-bar clip")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_colour.json")
    args = ap.parse_args()
    clips = [replace(s, frames=args.frames) for s in (SD_601, HD_709, HD_709_FULL, UHD_PQ, HLG)]
    results: dict = {"machine": machine(), "bars": [], "gradient": []}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for spec in clips:
            for size in ("source", "x2"):
                results["bars"].append(bars_row(tmp, spec, size))
        for size in ("source", "x2"):
            results["gradient"].append(gradient_row(tmp, size))
        results["conversion_ms"] = conversion_speed(tmp)
    print(
        f"{'clip':18s} {'size':9s} {'vidx':7s} {'path':10s} {'mean dE00':>9s} "
        f"{'worst':>6s}  tags  pix_fmt        time"
    )
    for r in results["bars"]:
        print(
            f"{r['clip']:18s} {r['size']:9s} {r['vidx_size']:7s} {r['path']:10s} "
            f"{r['ciede2000_mean']:9.3f} {r['ciede2000_worst_frame']:6.3f}  "
            f"{'same' if r['tags_equal'] else 'DIFF'}  {r['pix_fmt']:13s} {r['seconds']:5.1f}s"
        )
    for g in results["gradient"]:
        print(
            f"10-bit gradient, --size {g['vidx_size']}: {g['output_levels']} of "
            f"{g['source_levels']} luma levels kept ({g['pix_fmt']}; target > {g['target']})"
        )
    c = results["conversion_ms"]
    print(
        f"720p 8-bit conversion, ms/frame: decode {c['decode before']:.2f} before, "
        f"{c['decode vidx']:.2f} vidx; encode {c['encode before']:.2f} before, "
        f"{c['encode vidx']:.2f} vidx"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
