"""Seams of a segmented restyle against its interior pairs (issue 15): style and diffusion.

A generated clip moving 2 px right per frame (tests.conftest.pattern) is restyled four ways
in this process (a segment renders here exactly as on a Ray worker): unsegmented; in segments
that go on from the end state of the one before (``--seams carry``, the default for diffusion);
primed by the warm-up (``--seams warmup``, the default for the style backend); and starting
fresh (``--seams warmup --warmup-frames 0``). The table also says whether a segmented run's
frames are those of the unsegmented run.
Each pair's exact-motion warping error is measured on a lossless encode; the table gives the
seam pairs, the mean of the interior pairs and the worst seam over that mean.

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_seams.py [--backends style diffusion] [--frames 48]
[--segment-frames 12] [--runs unsegmented carried primed fresh] [--work-size 64]
[--out FILE.json]``
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
from vidx.jobs.segment_plan import plan_segments  # noqa: E402
from vidx.jobs.segments import parts_dir  # noqa: E402

RUNS = {
    "unsegmented": {"segment_frames": 0},
    "carried": {"seams": "carry"},
    "primed": {"seams": "warmup"},
    "fresh": {"seams": "warmup", "warmup_frames": 0},
}


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


class StateSizes:
    """A progress callback noting the size of each carried segment's end state file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sizes: dict[str, int] = {}

    def __call__(self, _: object) -> None:
        for path in self.folder.glob("*.state"):
            self.sizes[path.name] = path.stat().st_size


def frames_of(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").tobytes() for f in c.decode(video=0)]


def backend_options(backend: str, model: Path | None, work_size: int) -> dict[str, object]:
    if backend == "style":
        return {"style": "3"}
    return {
        "model": str(model),
        "prompt": "an oil painting",
        "steps": 4,
        "strength": 0.6,
        "work_size": work_size,
    }


def measure(backend: str, clip: Path, folder: Path, args: argparse.Namespace) -> dict:
    seams = {s.first for s in plan_segments(scan_frames(clip), args.segment_frames)[1:]}
    model = None
    if backend == "diffusion":
        model = build_tiny_model(folder / "tiny-sd")
    rows = {}
    for name in ["unsegmented", *[r for r in args.runs if r != "unsegmented"]]:
        extra = RUNS[name]
        out = folder / f"{backend}-{name}.mp4"
        options = {
            **backend_options(backend, model, args.work_size),
            "segment_frames": args.segment_frames,
            "analysis_size": 64,
            "keyframe_interval": args.keyframe_interval,
            "crf": 0,
            "overwrite": True,
            **extra,
        }
        sizes = StateSizes(parts_dir(out))
        vidx.render(clip, out, on_progress=sizes, **options)  # type: ignore[arg-type]
        errors = pair_errors(out)
        same = frames_of(out) == frames_of(folder / f"{backend}-unsegmented.mp4")
        seam = [e for t, e in enumerate(errors, start=1) if t in seams]
        inner = [e for t, e in enumerate(errors, start=1) if t not in seams]
        mean = float(np.mean(inner))
        rows[name] = {
            "seams": seam,
            "interior_mean": mean,
            "interior_max": float(np.max(inner)),
            "seam_mean_over_interior": float(np.mean(seam)) / mean,
            "worst_seam_over_interior": float(np.max(seam)) / mean,
            "same_frames_as_unsegmented": same,
            "state_bytes": sorted(sizes.sizes.values()),
        }
    return {"seam_pairs": sorted(seams), "runs": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["style", "diffusion"])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--segment-frames", type=int, default=12)
    parser.add_argument("--keyframe-interval", type=int, default=30)
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--work-size", type=int, default=64, help="diffusion work size")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "bench_seams.json"))
    args = parser.parse_args(argv)
    results: dict[str, object] = {"frames": args.frames, "segment_frames": args.segment_frames}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "in.mp4", frames=args.frames)
        for backend in args.backends:
            results[backend] = measure(backend, clip, folder, args)
    print(f"{args.frames} frames 96x64, {args.segment_frames}-frame segments; warping error x1e4")
    head = f"{'backend':10} {'run':12} {'seam pairs':28} {'interior':>9} {'worst/int':>9}"
    print(f"{head} same frames  state KB")
    for backend in args.backends:
        data = results[backend]
        assert isinstance(data, dict)
        for name, row in data["runs"].items():
            seams = ", ".join(f"{e * 1e4:.1f}" for e in row["seams"])
            mean, worst = row["interior_mean"] * 1e4, row["worst_seam_over_interior"]
            same = "yes" if row["same_frames_as_unsegmented"] else "no"
            kb = ", ".join(f"{b / 1024:.0f}" for b in row["state_bytes"]) or "-"
            print(f"{backend:10} {name:12} {seams:28} {mean:9.2f} {worst:9.2f} {same:11} {kb}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
