"""Benchmark the steady learned upscale (issue 27): shimmer against Lanczos, detail, model calls.

For each clip (real footage: imageio's ``cockatoo.mp4``; animation: opencv-doc's
``Megamind.avi``), scaled down (``--size``) and upscaled x4 with each model, per frame and
steadied (``vidx.upscale.steady.SteadyUpscaler``, the flow from ``vidx.analysis.Analyzer`` with
the job defaults):

- warping error at the output size, the flow from the Lanczos upscale (``temporal.shimmer``),
  of the per-frame and the steadied upscale, each over Lanczos's;
- worst pair over the mean (steadied), beside Lanczos's own and the worst of the steadied
  pairs each over Lanczos's pair (the clip's motion decides the first);
- detail retention of the steadied upscale against the per-frame one (min over frames);
- a static shot (the clip's first frame held for ``--frames`` frames): seconds against the
  moving clip of the same size and length, model calls per frame, and the PSNR of its first
  and last frame to the per-frame upscale.

Prints a table and writes JSON (``--out``). The esrgan (x4plus) model costs about 90 s a frame
at 320x180 on a 2-core CPU: ``--esrgan-size`` and ``--esrgan-frames`` keep it short.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

import temporal
from temporal.shimmer import lanczos_baseline, shimmer_pair
from vidx.analysis import Analyzer
from vidx.frame import Frame
from vidx.io.reader import Reader, Trim
from vidx.options import AnalysisOptions
from vidx.upscale.factory import make_upscaler
from vidx.upscale.steady import SteadyUpscaler

MEDIA = [Path(__file__).resolve().parents[1] / ".cache" / "test-media"]  # --media
# file and first frame (Megamind.avi opens on one black frame)
CACHE: list[Path | None] = [None]  # --cache
CLIPS = {"real (cockatoo)": ("cockatoo.mp4", 0), "animation (Megamind)": ("Megamind.avi", 1)}


class CachedUpscaler:
    """``base`` with its outputs kept on disk (``--cache``), keyed by model, input and size:
    esrgan (x4plus) costs about 90 s a frame here, and the per-frame and the steadied run ask
    for the same whole frames. Network calls are counted as when the output was made; the
    seconds of a run that reads the cache are not the network's."""

    def __init__(self, base, folder: Path) -> None:
        self.base, self.folder = base, folder
        self.name, self.overlap = base.name, base.overlap
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def calls(self) -> int:
        return self.base.calls

    def describe(self) -> dict:
        return self.base.describe()

    def __call__(self, image: np.ndarray, size: tuple[int, int], ctx=None) -> np.ndarray:
        image = np.ascontiguousarray(image)
        key = hashlib.sha1(f"{self.name} {image.shape} {size}".encode() + image.tobytes())
        path = self.folder / f"{key.hexdigest()}.npz"
        if path.exists():
            with np.load(path) as data:
                self.base.calls += int(data["calls"])
                return data["out"]
        before = self.base.calls
        out = self.base(image, size, ctx)
        np.savez(path, out=out, calls=self.base.calls - before)
        return out


def clip(path: Path, frames: int, size: tuple[int, int], start: int = 0) -> list[np.ndarray]:
    """``frames`` frames from ``start``, area-shrunk to ``size = (w, h)``."""
    out = []
    with Reader(path, Trim(max_frames=start + frames), copy_streams=False) as reader:
        for i, f in enumerate(reader.frames()):
            if i >= start:
                out.append(cv2.resize(f.rgb, size, interpolation=cv2.INTER_AREA))
    return out


def contexts(frames: list[np.ndarray]) -> list:
    analyzer = Analyzer(AnalysisOptions())
    return [analyzer(Frame(f, i, Fraction(1, 25), i)) for i, f in enumerate(frames)]


def run(upscaler, frames, ctxs, size) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    outs = [upscaler(f, size, c) for f, c in zip(frames, ctxs, strict=True)]
    return outs, time.perf_counter() - t0


def shimmer(frames, outputs: dict[str, list[np.ndarray]], size) -> dict[str, list[float]]:
    """Per-pair warping errors at the output size: DIS ("fine", the house's ruler, the flow the
    stabiliser refines with too) and, as an independent check, Farneback, each on the Lanczos
    upscale; keys ``lanczos``, each output's, and the same with ``:farneback``."""
    base = [lanczos_baseline(f, (size[1], size[0])) for f in frames]
    errors: dict[str, list[float]] = {"lanczos": [], **{k: [] for k in outputs}}
    errors.update({f"{k}:farneback": [] for k in errors})
    for t in range(1, len(frames)):
        pairs = [(o[t - 1], o[t]) for o in outputs.values()]
        b, each = shimmer_pair(base[t - 1], base[t], pairs)
        if b is None:
            continue
        errors["lanczos"].append(b)
        for k, e in zip(outputs, each, strict=True):
            errors[k].append(float(e) if e is not None else float("nan"))
        back = temporal.flow(base[t], base[t - 1], "farneback", scale=0.5)
        mask = temporal.consistency_mask(
            back, temporal.flow(base[t - 1], base[t], "farneback", scale=0.5)
        )
        for k, o in {"lanczos": base, **outputs}.items():
            e = temporal.exact_pair_warp_error(o[t - 1], o[t], back, mask=mask)
            errors[f"{k}:farneback"].append(float(e) if e is not None else float("nan"))
    return errors


def ratio(errs: dict[str, list[float]], key: str) -> float:
    return float(np.nanmean(errs[key]) / np.nanmean(errs["lanczos:farneback"]))


def bench_clip(model: str, name: str, n: int, small: tuple[int, int], static: bool) -> dict:
    size = (small[0] * 4, small[1] * 4)
    file, start = CLIPS[name]
    frames = clip(MEDIA[0] / file, n, small, start)
    ctxs = contexts(frames)
    base = make_upscaler(model, device="cpu")
    if CACHE[0] is not None:
        base = CachedUpscaler(base, CACHE[0] / model)
    per_frame, t_per_frame = run(base, frames, ctxs, size)
    steady = SteadyUpscaler(base)
    steadied, t_steady = run(steady, frames, ctxs, size)
    calls = steady.stats.summary()
    errs = shimmer(frames, {"per_frame": per_frame, "steady": steadied}, size)
    lanczos = float(np.mean(errs["lanczos"]))
    pairs = list(zip(steadied, per_frame, strict=True))
    dr = [temporal.detail_retention(s, p) for s, p in pairs]
    lz = [lanczos_baseline(f, (size[1], size[0])) for f in frames]
    dr_lanczos = [temporal.detail_retention(p, b) for p, b in zip(per_frame, lz, strict=True)]
    row = {
        "model": model,
        "clip": name,
        "frames": n,
        "input": f"{small[0]}x{small[1]}",
        "output": f"{size[0]}x{size[1]}",
        "lanczos_warp_error": lanczos,
        "per_frame_vs_lanczos": float(np.mean(errs["per_frame"])) / lanczos,
        "steady_vs_lanczos": float(np.mean(errs["steady"])) / lanczos,
        "per_frame_vs_lanczos_farneback": ratio(errs, "per_frame:farneback"),
        "steady_vs_lanczos_farneback": ratio(errs, "steady:farneback"),
        "steady_worst_over_mean": float(np.max(errs["steady"]) / np.mean(errs["steady"])),
        "steady_worst_pair": int(np.argmax(errs["steady"])) + 1,
        # the clip's own motion decides the worst pair of anything that follows the source:
        # Lanczos's own worst over its mean, and the steadied pairs each over Lanczos's pair
        "lanczos_worst_over_mean": float(np.max(errs["lanczos"]) / lanczos),
        "steady_worst_pair_vs_lanczos_pair": float(
            np.nanmax(np.asarray(errs["steady"]) / np.asarray(errs["lanczos"]))
        ),
        "per_frame_detail_vs_lanczos": float(np.mean(dr_lanczos)),
        "detail_retention_min": float(min(dr)),
        "detail_retention_mean": float(np.mean(dr)),
        "detail_retention_worst_frame": int(np.argmin(dr)),
        "detail_retention": [round(float(d), 4) for d in dr],
        "steady_pair_errors": [round(e / lanczos, 4) for e in errs["steady"]],
        "psnr_to_per_frame_db": float(np.mean([min(temporal.psnr(s, p), 100.0) for s, p in pairs])),
        "per_frame_seconds": t_per_frame,
        "seconds_steady": t_steady,
        "moving_calls": calls,
        "cached": CACHE[0] is not None,
    }
    if static:
        row.update(bench_static(base, frames[0], ctxs, n, size, t_steady))
    return row


def bench_static(base, first, ctxs, n, size, t_moving) -> dict:
    """The clip's first frame held ``n`` frames: time, calls, PSNR of first and last frame to
    the per-frame upscale of that frame."""
    frames = [first.copy() for _ in range(n)]
    ctxs = contexts(frames)
    steady = SteadyUpscaler(base)
    outs, t_static = run(steady, frames, ctxs, size)
    ref = base(first, size)
    return {
        "static_seconds": t_static,
        "moving_over_static": t_moving / t_static,
        "static_calls": steady.stats.summary(),
        "static_first_psnr_db": min(temporal.psnr(outs[0], ref), 100.0),
        "static_last_psnr_db": min(temporal.psnr(outs[-1], ref), 100.0),
    }


def size_arg(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/upscale_temporal.json"))
    parser.add_argument("--models", default="esrgan-anime,esrgan")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=size_arg, default=(320, 180))
    parser.add_argument("--esrgan-frames", type=int, default=6)
    parser.add_argument("--esrgan-size", type=size_arg, default=(128, 72))
    parser.add_argument("--no-static", action="store_true")
    parser.add_argument("--media", type=Path, default=MEDIA[0], help="folder of the clips")
    parser.add_argument(
        "--cache",
        type=Path,
        help="keep the network's outputs in this folder and reuse them (the seconds then are "
        "not the network's: time the static shot without it)",
    )
    args = parser.parse_args()
    MEDIA[0], CACHE[0] = args.media, args.cache
    rows = []
    for model in args.models.split(","):
        slow = model == "esrgan"
        n = args.esrgan_frames if slow else args.frames
        small = args.esrgan_size if slow else args.size
        for name in args.clips.split(","):
            rows.append(bench_clip(model, name, n, small, not args.no_static))
            r = rows[-1]
            print(
                f"{model:13} {name:21} {r['input']}->{r['output']} {n:2} fr | warp/lanczos "
                f"per-frame {r['per_frame_vs_lanczos']:.3f} steady {r['steady_vs_lanczos']:.3f}"
                f" (Farneback ruler {r['per_frame_vs_lanczos_farneback']:.3f} / "
                f"{r['steady_vs_lanczos_farneback']:.3f})"
                f" | worst/mean {r['steady_worst_over_mean']:.2f} (Lanczos's own "
                f"{r['lanczos_worst_over_mean']:.2f}; worst pair / its Lanczos pair "
                f"{r['steady_worst_pair_vs_lanczos_pair']:.2f}) | DR min "
                f"{r['detail_retention_min']:.3f} | calls/frame "
                f"{r['moving_calls']['model_calls_per_frame']:.2f}"
                + (
                    f" | static x{r['moving_over_static']:.2f} faster, calls/frame "
                    f"{r['static_calls']['model_calls_per_frame']:.2f}, first/last "
                    f"{r['static_first_psnr_db']:.1f}/{r['static_last_psnr_db']:.1f} dB"
                    if "static_seconds" in r
                    else ""
                ),
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
