"""Mask figures (issue 14, item 2): does a ``--keep`` box stay the source and follow the camera?

A photo (skimage's astronaut) pans under a fixed camera crop at a whole and at a fractional
speed, and one clip also zooms in (1 % a frame); a box is kept on the first frame. Each clip is
restyled with the embedded style network (``vidx.render``, ``--crf 0 --pix-fmt yuv444p`` so the
encoder does not hide what vidx does); for every frame the box's true place is known. Per clip:
the worst frame's PSNR inside the true box (the feather and 2 px excluded) against the decoded
source, the worst distance between the true box centre and the centre of where the output equals
the source (the tracked box), and the mean difference to the source away from the box (it is
restyled).
Prints a table and writes JSON (``--out``).
Usage: ``.venv/bin/python scripts/bench_masks.py [--frames 24] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vidx  # noqa: E402
from scripts.bench_io import machine  # noqa: E402
from temporal.metrics import psnr  # noqa: E402

W, H, FEATHER = 320, 180, 4
BOX = (230, 100, 48, 36)  # on the first frame (x, y, w, h); in view to the last frame


def world() -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (640, 640), interpolation=cv2.INTER_AREA)


def camera(i: int, pan: float, zoom: float) -> np.ndarray:
    """The 2x3 affine from world pixels to frame ``i``'s pixels."""
    s = (1 + zoom) ** i
    cx, cy = 60 + pan * i + W / 2, 200 + H / 2  # the world point at the frame's centre
    return np.array([[s, 0, W / 2 - s * cx], [0, s, H / 2 - s * cy]], np.float64)


def box_at(i: int, pan: float, zoom: float) -> tuple[float, float, float, float]:
    """Where BOX (drawn on frame 0) is on frame ``i``."""
    a0, a = np.vstack([camera(0, pan, zoom), [0, 0, 1]]), camera(i, pan, zoom)
    m = a @ np.linalg.inv(a0)
    x, y, w, h = BOX
    (x0, y0), (x1, y1) = (m @ [x, y, 1]), (m @ [x + w, y + h, 1])
    return x0, y0, x1 - x0, y1 - y0


def write_clip(path: Path, frames: int, pan: float, zoom: float) -> None:
    img = world()
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=24, options={"crf": "8"})
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv444p"
        for i in range(frames):
            rgb = cv2.warpAffine(img, camera(i, pan, zoom), (W, H), flags=cv2.INTER_CUBIC)
            for p in vs.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def kept_centre(out: np.ndarray, src: np.ndarray) -> tuple[float, float]:
    same = (np.abs(out.astype(int) - src.astype(int)).max(axis=2) <= 6).astype(np.uint8)
    same = cv2.morphologyEx(same, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    _, _, stats, centroids = cv2.connectedComponentsWithStats(same)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return float(centroids[best][0]), float(centroids[best][1])


def measure(folder: Path, name: str, frames: int, pan: float, zoom: float) -> dict:
    src, out = folder / f"{name}.mp4", folder / f"{name}.out.mp4"
    write_clip(src, frames, pan, zoom)
    t0 = time.perf_counter()
    vidx.render(src, out, style="3", keep=",".join(map(str, BOX)), mask_feather=FEATHER,
                crf=0, pix_fmt="yuv444p", overwrite=True)  # fmt: skip
    wall = time.perf_counter() - t0
    psnrs, offs, away = [], [], []
    margin = FEATHER // 2 + 2
    for i, (o, s) in enumerate(zip(decode(out), decode(src), strict=True)):
        x, y, w, h = box_at(i, pan, zoom)
        rows = slice(max(0, int(np.ceil(y)) + margin), min(H, int(y + h) - margin))
        cols = slice(max(0, int(np.ceil(x)) + margin), min(W, int(x + w) - margin))
        psnrs.append(psnr(o[rows, cols], s[rows, cols], peak=255))
        cx, cy = kept_centre(o, s)
        offs.append(float(np.hypot(cx - (x + w / 2), cy - (y + h / 2))))
        far = np.ones((H, W), bool)
        far[max(0, int(y) - 12) : int(y + h) + 12, max(0, int(x) - 12) : int(x + w) + 12] = False
        away.append(float(np.abs(o[far].astype(int) - s[far].astype(int)).mean()))
    meta = json.loads(Path(f"{out}.json").read_text())
    return {
        "clip": name,
        "pan_px_per_frame": pan,
        "zoom_per_frame": zoom,
        "frames": frames,
        "worst_psnr_db": min(psnrs),
        "worst_psnr_frame": int(np.argmin(psnrs)),
        "worst_centre_error_px": max(offs),
        "worst_centre_frame": int(np.argmax(offs)),
        "mean_diff_away_from_box": float(np.mean(away)),
        "motion_held_frames": meta["region"]["motion_held_frames"],
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_masks.json")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, pan, zoom in (("pan3", 3.0, 0.0), ("pan7.5", 7.5, 0.0), ("pan3+zoom", 3.0, 0.01)):
            rows.append(measure(Path(tmp), name, args.frames, pan, zoom))
    print("| clip | worst PSNR in box (frame) | worst centre error px (frame) | away | held | s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['clip']} | {r['worst_psnr_db']:.1f} ({r['worst_psnr_frame']}) | "
            f"{r['worst_centre_error_px']:.2f} ({r['worst_centre_frame']}) | "
            f"{r['mean_diff_away_from_box']:.1f} | {r['motion_held_frames']} | {r['wall_s']:.1f} |"
        )
    args.out.parent.mkdir(exist_ok=True)
    data = {"machine": machine(), "load_before": load, "size": [W, H], "box": BOX, "rows": rows}
    args.out.write_text(json.dumps(data, indent=2))
    print(f"load before: {load:.1f}; wrote {args.out}")


if __name__ == "__main__":
    main()
