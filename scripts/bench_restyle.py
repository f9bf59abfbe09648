"""Benchmark: vidx temporal diffusion restyle against a naive per-frame img2img loop.

Usage: ``python scripts/bench_restyle.py [--sizes tiny mid] [--frames 24] [--out PATH]``

Both sides use the same random-weight model (built with scripts/make_tiny_model.py), prompt,
scheduler, strength and steps. The naive side is diffusers' ``StableDiffusionImg2ImgPipeline``
called per frame with PIL in and out and a fixed seed. The clip is a synthetic pan + zoom over a
real photo (skimage astronaut). Reported per model: wall time, UNet forward calls per frame
(a classifier-free-guidance batch is one call), warping error against the source motion
(``temporal.warp_error``) and PSNR of the temporal output to the naive per-frame output. The
sd15 size (real SD1.5 layout, random weights, 512 px, fp16) runs only when CUDA is available.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from make_tiny_model import build_tiny_model  # noqa: E402

import temporal  # noqa: E402
from vidx.frame import FrameContext  # noqa: E402
from vidx.restyle.diffusion import DiffusionOptions, DiffusionRestyler, load_pipeline  # noqa: E402
from vidx.restyle.diffusion.denoise import UNetCounter  # noqa: E402
from vidx.restyle.diffusion.loading import set_scheduler  # noqa: E402

# (frame height, frame width, work size) per model size
SETUPS = {"tiny": (128, 160, 128), "mid": (256, 320, 256), "sd15": (512, 640, 512)}


def make_clip(n: int, height: int, width: int) -> list[np.ndarray]:
    """Pan right + slow zoom in over skimage's astronaut photo, ``n`` frames of (h, w, 3)."""
    from skimage import data

    photo = data.astronaut()
    frames = []
    for i in range(n):
        cw = 400 - 4 * i
        ch = round(cw * height / width)
        x0, y0 = 20 + 3 * i, 40 + i
        crop = photo[y0 : y0 + ch, x0 : x0 + cw]
        frames.append(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))
    return frames


def make_contexts(frames: list[np.ndarray], interval: int) -> tuple[list[FrameContext], float]:
    """Contexts as the pipeline's analysis makes them; returns them and the seconds spent."""
    sched = temporal.KeyframeScheduler(interval)
    out, start = [], time.perf_counter()
    for i, f in enumerate(frames):
        if sched.is_keyframe(i):
            out.append(FrameContext(i, f, keyframe=True))
            continue
        back, fwd = temporal.flow(f, frames[i - 1]), temporal.flow(frames[i - 1], f)
        mask = temporal.consistency_mask(back, fwd)
        out.append(FrameContext(i, f, keyframe=False, flow=back, mask=mask))
    return out, time.perf_counter() - start


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True)])
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def run_naive(model: Path, opts: DiffusionOptions, frames, device, dtype) -> dict:
    from PIL import Image

    pipe = load_pipeline(str(model), device, dtype)
    set_scheduler(pipe, opts.scheduler)
    counter = UNetCounter(pipe.unet)
    h, w = frames[0].shape[:2]
    outs, start = [], time.perf_counter()
    for f in frames:
        gen = torch.Generator(device="cpu").manual_seed(opts.seed)
        img = pipe(
            opts.prompt,
            image=Image.fromarray(f),
            strength=opts.strength,
            num_inference_steps=opts.steps,
            guidance_scale=opts.guidance,
            negative_prompt=opts.negative_prompt or None,
            generator=gen,
        ).images[0]
        outs.append(np.asarray(img.resize((w, h))))
    wall = time.perf_counter() - start
    counter.close()
    return {"wall_s": wall, "unet_calls": counter.calls, "outputs": outs}


def run_temporal(model: Path, opts: DiffusionOptions, frames, ctxs) -> dict:
    restyler = DiffusionRestyler(opts)
    outs, start = [], time.perf_counter()
    for f, c in zip(frames, ctxs, strict=True):
        outs.append(restyler(f, c))
    wall = time.perf_counter() - start
    info = restyler.describe()
    return {"wall_s": wall, "unet_calls": info["unet_calls"], "outputs": outs, "describe": info}


def bench_size(size: str, args, workdir: Path) -> dict:
    device = "cuda" if size == "sd15" else args.device
    dtype = "fp16" if device == "cuda" else "fp32"
    height, width, work = SETUPS[size]
    model = build_tiny_model(workdir / size, size=size)
    frames = make_clip(args.frames, height, width)
    ctxs, analysis_s = make_contexts(frames, args.keyframe_interval)
    opts = DiffusionOptions(
        model=str(model),
        prompt="an oil painting of an astronaut, thick brush strokes",
        negative_prompt="blurry",
        strength=args.strength,
        reuse_strength=args.reuse_strength,
        steps=args.steps,
        guidance=args.guidance,
        scheduler=args.scheduler,
        work_size=work,
        device=device,
        dtype=dtype,
        seed=0,
    )
    naive = run_naive(model, opts, frames, device, dtype)
    temp = run_temporal(model, opts, frames, ctxs)
    n = len(frames)
    row = {
        "size": size,
        "device": device,
        "frame": [height, width],
        "frames": n,
        "naive": {
            "wall_s": naive["wall_s"],
            "unet_calls_per_frame": naive["unet_calls"] / n,
            "warp_error": temporal.warp_error(frames, naive["outputs"]),
        },
        "temporal": {
            "wall_s": temp["wall_s"],
            "wall_with_analysis_s": temp["wall_s"] + analysis_s,
            "unet_calls_per_frame": temp["unet_calls"] / n,
            "warp_error": temporal.warp_error(frames, temp["outputs"]),
            "psnr_to_naive_db": psnr(temp["outputs"], naive["outputs"]),
            "keyframes": temp["describe"]["keyframes"],
        },
        "source_warp_error": temporal.warp_error(frames, frames),
    }
    t, nv = row["temporal"], row["naive"]
    row["ratios"] = {
        "unet_calls": nv["unet_calls_per_frame"] / t["unet_calls_per_frame"],
        "wall": t["wall_s"] / nv["wall_s"],
        "wall_with_analysis": t["wall_with_analysis_s"] / nv["wall_s"],
        "warp_error": t["warp_error"] / nv["warp_error"],
    }
    if args.save_frames:
        out = Path(args.save_frames) / size
        out.mkdir(parents=True, exist_ok=True)
        for i in (0, n // 2, n - 1):
            pair = np.concatenate([frames[i], naive["outputs"][i], temp["outputs"][i]], axis=1)
            cv2.imwrite(str(out / f"frame{i:03d}.png"), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
    return row


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'model':6} {'side':9} {'wall s':>8} {'UNet/frame':>10} {'warp err':>10} {'vs naive':>24}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        nv, t, q = r["naive"], r["temporal"], r["ratios"]
        print(
            f"{r['size']:6} {'naive':9} {nv['wall_s']:8.1f} {nv['unet_calls_per_frame']:10.2f} "
            f"{nv['warp_error']:10.5f}"
        )
        note = f"{q['unet_calls']:.2f}x fewer, {q['wall']:.2f}x time"
        print(
            f"{'':6} {'temporal':9} {t['wall_s']:8.1f} {t['unet_calls_per_frame']:10.2f} "
            f"{t['warp_error']:10.5f} {note:>24}"
        )
        print(
            f"{'':6} {'':9} warp error x{q['warp_error']:.2f}, with flow analysis "
            f"{q['wall_with_analysis']:.2f}x time, PSNR to naive {t['psnr_to_naive_db']:.1f} dB"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "mid", "sd15"], choices=list(SETUPS))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--reuse-strength", type=float, default=0.2)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--keyframe-interval", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--save-frames", default="", help="folder for source|naive|temporal PNGs")
    parser.add_argument("--out", default="bench-results/diffusion_restyle.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [s for s in args.sizes if s != "sd15" or torch.cuda.is_available()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidx-bench-") as tmp:
        for size in sizes:
            rows.append(bench_size(size, args, Path(tmp)))
    print_table(rows)
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln), "?"
    )
    result = {
        "machine": {
            "cpu": cpu,
            "nproc": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "save_frames")},
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
