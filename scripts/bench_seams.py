"""Seams of a segmented restyle against its interior pairs (issue 15): style and diffusion.

A generated clip moving 2 px right per frame (tests.conftest.pattern) is restyled three ways
in this process (a segment renders here exactly as on a Ray worker): unsegmented, in segments
primed by the warm-up (the default), and in segments starting fresh (``--warmup-frames 0``).
Each pair's exact-motion warping error is measured on a lossless encode; the table gives the
seam pairs, the mean of the interior pairs and the worst seam over that mean.

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_seams.py [--backends style diffusion] [--frames 48]
[--segment-frames 12] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import av  # noqa: E402
import numpy as np  # noqa: E402

import temporal  # noqa: E402
import vidx  # noqa: E402
from scripts.make_tiny_model import build_tiny_model  # noqa: E402
from tests.conftest import make_clip  # noqa: E402
from vidx.io.remux import scan_frames  # noqa: E402
from vidx.segments import plan_segments  # noqa: E402

RUNS = {"unsegmented": {"segment_frames": 0}, "primed": {}, "fresh": {"warmup_frames": 0}}


def pair_errors(path: Path, step: float = 2.0) -> list[float]:
    """Exact-motion warping error of each pair (t-1, t), t = 1..; the frame counter bar in the
    top rows of the pattern and the column entering at the left are left out."""
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    h, w = frames[0].shape[:2]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = -step
    mask = np.ones((h, w), bool)
    mask[:6] = False
    mask[:, : int(np.ceil(step))] = False
    out = []
    for prev, cur in zip(frames, frames[1:], strict=False):
        e = temporal.exact_pair_warp_error(prev, cur, flow, mask)
        out.append(float(e) if e is not None else float("nan"))
    return out


def backend_options(backend: str, model: Path | None) -> dict[str, object]:
    if backend == "style":
        return {"style": "3"}
    return {
        "model": str(model),
        "prompt": "an oil painting",
        "steps": 4,
        "strength": 0.6,
        "work_size": 64,
    }


def measure(backend: str, clip: Path, folder: Path, args: argparse.Namespace) -> dict:
    seams = {s.first for s in plan_segments(scan_frames(clip), args.segment_frames)[1:]}
    model = None
    if backend == "diffusion":
        model = build_tiny_model(folder / "tiny-sd")
    rows = {}
    for name, extra in RUNS.items():
        out = folder / f"{backend}-{name}.mp4"
        options = {
            **backend_options(backend, model),
            "segment_frames": args.segment_frames,
            "analysis_size": 64,
            "keyframe_interval": args.keyframe_interval,
            "crf": 0,
            "overwrite": True,
            **extra,
        }
        vidx.render(clip, out, **options)  # type: ignore[arg-type]
        errors = pair_errors(out)
        seam = [e for t, e in enumerate(errors, start=1) if t in seams]
        inner = [e for t, e in enumerate(errors, start=1) if t not in seams]
        mean = float(np.mean(inner))
        rows[name] = {
            "seams": seam,
            "interior_mean": mean,
            "interior_max": float(np.max(inner)),
            "seam_mean_over_interior": float(np.mean(seam)) / mean,
            "worst_seam_over_interior": float(np.max(seam)) / mean,
        }
    return {"seam_pairs": sorted(seams), "runs": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["style", "diffusion"])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--segment-frames", type=int, default=12)
    parser.add_argument("--keyframe-interval", type=int, default=30)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "bench_seams.json"))
    args = parser.parse_args(argv)
    results: dict[str, object] = {"frames": args.frames, "segment_frames": args.segment_frames}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "in.mp4", frames=args.frames)
        for backend in args.backends:
            results[backend] = measure(backend, clip, folder, args)
    print(f"{args.frames} frames 96x64, {args.segment_frames}-frame segments; warping error x1e4")
    print(f"{'backend':10} {'run':12} {'seam pairs':28} {'interior':>9} {'worst/int':>9}")
    for backend in args.backends:
        data = results[backend]
        assert isinstance(data, dict)
        for name, row in data["runs"].items():
            seams = ", ".join(f"{e * 1e4:.1f}" for e in row["seams"])
            mean, worst = row["interior_mean"] * 1e4, row["worst_seam_over_interior"]
            print(f"{backend:10} {name:12} {seams:28} {mean:9.2f} {worst:9.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
