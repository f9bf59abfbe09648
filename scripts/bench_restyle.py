"""Benchmark: vidx temporal diffusion restyle against a naive per-frame img2img loop.

Usage: ``python scripts/bench_restyle.py [--sizes tiny mid trained] [--frames 24]
[--clip photo|subject|subject-deform|vtest|cockatoo|megamind] [--seed-floor]
[--set KEY=VALUE ...] [--out PATH]``

Both sides use the same model, prompt, scheduler, strength, steps and seed: ``tiny`` and ``mid`` are
random-weight models built with scripts/make_tiny_model.py (their output is noise texture: they show
the mechanism), ``trained`` is the small model trained on photos that ships with vidx (``--model
small-sd``, made by scripts/train_small_model.py: its output keeps the picture, so detail and
steadiness are measured on content). The naive side is diffusers' ``StableDiffusionImg2ImgPipeline``
called per frame with PIL in and out and a fixed seed; it is also the per-frame reference (same
model, seed, strength). The clip is a real photo (skimage astronaut) under a known affine motion
per frame (slow pan + zoom + rotation), so the warping error uses the *exact* motion
(``temporal.exact_pair_warp_error``), per pair with its worst pair (keyframe pairs included).
Reported per model: wall time, UNet calls per frame (a guidance batch is one call), warping
error mean / max, detail retention ``DR_t`` of the temporal output over the per-frame one (min and
mean), a blur-matched baseline (the per-frame output blurred with the Gaussian sigma that gives it
the temporal output's gradient energy) and the warping-error ratio against it, and PSNR to the
per-frame output. ``--set`` overrides any restyle option (``vidx.options.RestyleOptions``, flat
names, e.g. ``--set warp_noise=false``). The per-frame side encodes each frame as the VAE
posterior's mean, as vidx does (``--naive-latent sample``: a sample, diffusers' default and the
figures before 2026-12-07; on the random VAEs the sample's spread swamps the picture).
``--seed-floor`` also scores a per-frame render with another seed against the per-frame one,
region by region: two independent renders differ in a region's detail too, so that is the noise
floor a detail-retention target sits on. ``--seeds N``
runs both sides with N seeds and adds each seed's region figures and the regions' detail
retention of the seeds' mean energy (a keyframe's noise draw sets a region's detail for every
frame that holds it, so one seed against one seed is a lottery); with ``--seed-floor`` too,
each seed's floor (its per-frame render against the next seed's, the last against the first).
``--controlnet random`` (a seeded random ControlNet for the model, built with
scripts/make_tiny_controlnet.py) or ``--controlnet FOLDER`` steers both sides with the
``--control`` image of each frame (the per-frame side through diffusers'
``StableDiffusionControlNetImg2ImgPipeline``). The sd15 size (real SD1.5 layout, random weights,
512 px, fp16) runs only when CUDA is available. The real-weights check: when ``VIDX_TEST_MODEL``
names a local SD1.5 diffusers folder and CUDA is available, the ``real`` size runs on it (512 px,
fp16) and its figures are recorded with the others (``--sizes real`` asks for it alone).

``--clip`` picks another clip (scripts/bench_regions.py): ``subject`` / ``subject-deform`` (a
subject that moves and turns, or also bends, over a panning photo, with exact flow and labels:
scripts/subject_clip.py) or real footage with DIS flow: ``vtest`` (people walking past a still
camera), ``cockatoo`` (a bird turning its head before a hand-held camera), ``megamind`` (an
animated face talking); the warping errors then count only where the flow is trusted, and each
row adds ``regions``: per region (subject or moving / uncovered / entering / background) the
warping error ratio to per-frame, worst pair, detail retention min and mean, and the share of the
frame.
"""

from __future__ import annotations

import argparse
import hashlib
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
from bench_regions import (  # noqa: E402
    CLIPS,
    layer_figures,
    load_clip,
    print_layers,
    print_regions,
    print_seed_mean,
    region_figures,
    seed_mean_figures,
)
from make_tiny_controlnet import build_tiny_controlnet  # noqa: E402
from make_tiny_model import build_tiny_model  # noqa: E402

import temporal  # noqa: E402
from vidx.frame import FrameContext  # noqa: E402
from vidx.options import DeviceOptions, RestyleOptions  # noqa: E402
from vidx.restyle.diffusion import DiffusionRestyler, load_pipeline  # noqa: E402
from vidx.restyle.diffusion.builtin import REGISTRY as BUILTIN  # noqa: E402
from vidx.restyle.diffusion.control import ControlImager  # noqa: E402
from vidx.restyle.diffusion.denoise import UNetCounter, encode_image  # noqa: E402
from vidx.restyle.diffusion.loading import set_scheduler  # noqa: E402

# (frame height, frame width, work size) per model size
SETUPS = {
    "tiny": (128, 160, 128),
    "mid": (256, 320, 256),
    "trained": (256, 320, 256),  # the shipped small-sd (VAE factor 4: a 64x80 latent)
    "sd15": (512, 640, 512),
    "real": (512, 640, 512),  # the folder VIDX_TEST_MODEL names (real SD1.5 weights)
}
REAL_MODEL_ENV = "VIDX_TEST_MODEL"
TRAINED = BUILTIN["small-sd"].folder
GPU_SIZES = ("sd15", "real")
# motion per frame (pan in photo pixels, zoom fraction, rotation in degrees): "slow" is the
# recorded default; "fast" (a second motion, to check defaults are not tuned to one clip) pans
# the other way about twice as fast, zooms out and rotates the other way
MOTIONS = {
    "slow": ((1.5, 0.5), 0.005, 0.25),
    "fast": ((-3.0, 1.2), -0.004, -0.4),
}
PHOTOS = ("astronaut", "coffee")
MOTION = MOTIONS["slow"]
CLIP = ("astronaut", "slow")
CLIP_NAME = "photo"  # --clip: photo (make_clip) or a region clip of scripts/bench_regions.py
# --naive-latent: how the per-frame side encodes a frame. "mean" (the VAE posterior's mean, as
# vidx encodes) or "sample" (diffusers' own img2img default, the figures before 2026-12-07): on
# the random-weight VAEs of tiny and mid the posterior's spread is about 5x the mean's own
# (0.196 against 0.04 on a vtest frame, mid), so a sampled per-frame render's texture is mostly
# that sample, which no steady method draws; on trained VAEs it is 0.003 against 0.985
NAIVE_LATENT = "mean"


def frame_to_photo(i: int, height: int, width: int) -> np.ndarray:
    """3x3 matrix taking frame-i pixel coordinates to photo coordinates (pan, zoom, rotate)."""
    pan, zoom, rotation = MOTION
    s = 1.3 * 256 / height / (1.0 + zoom) ** i  # photo pixels per frame pixel
    th = np.deg2rad(rotation * i)
    rot = s * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    cf = np.array([(width - 1) / 2, (height - 1) / 2])
    cp = np.array([256.0 + pan[0] * i, 256.0 + pan[1] * i])
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = rot, cp - rot @ cf
    return m


def make_clip(
    n: int, height: int, width: int, photo_name: str = "astronaut"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` frames of a skimage photo under the known motion, and the exact backward flow
    of each pair (t -> t-1, ``(h, w, 2)``; entry 0 is None)."""
    from skimage import data

    picture = getattr(data, photo_name)()
    if picture.shape[0] < 512 or picture.shape[1] < 512:  # the motion is centred at (256, 256)
        picture = cv2.resize(picture, (max(512, picture.shape[1]), 512), cv2.INTER_CUBIC)
    photo = cv2.GaussianBlur(picture, (0, 0), 0.6)
    frames, flows = [], []
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    for i in range(n):
        m = frame_to_photo(i, height, width)
        frames.append(
            cv2.warpAffine(
                photo,
                m[:2],
                (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
        )
        if i == 0:
            flows.append(None)
            continue
        q = np.linalg.inv(frame_to_photo(i - 1, height, width)) @ m @ pts
        flow = np.dstack(
            [(q[0] - pts[0]).reshape(height, width), (q[1] - pts[1]).reshape(height, width)]
        )
        flows.append(flow.astype(np.float32))
    return frames, flows


def make_contexts(frames: list[np.ndarray], interval: int) -> tuple[list[FrameContext], float]:
    """Contexts like the pipeline's analysis makes them (DIS on the source, not the exact
    motion), with the flow also on periodic keyframes; returns them and the seconds spent."""
    sched = temporal.KeyframeScheduler(interval)
    out, start = [], time.perf_counter()
    for i, f in enumerate(frames):
        key = sched.is_keyframe(i)
        if i == 0:
            out.append(FrameContext(i, f, keyframe=True))
            continue
        # periodic keyframes carry the flow too (no cut here), so they can be anchored
        back, fwd = temporal.flow(f, frames[i - 1]), temporal.flow(frames[i - 1], f)
        mask = temporal.consistency_mask(back, fwd)
        out.append(FrameContext(i, f, keyframe=key, flow=back, mask=mask))
    return out, time.perf_counter() - start


def exact_errors(outputs: list[np.ndarray], flows: list, masks: list | None = None) -> dict:
    """Per-pair warping error with the exact motion (or the clip's flow), and its mean / max /
    worst pair; ``masks`` (per frame, None = inside the frame) says where the flow holds."""
    per_pair = [
        temporal.exact_pair_warp_error(
            outputs[t - 1], outputs[t], flows[t], None if masks is None else masks[t]
        )
        for t in range(1, len(outputs))
    ]
    summary = temporal.error_summary(per_pair)
    summary["worst_pair"] += 1  # pair (t-1, t) is named by t
    return {**summary, "per_pair": per_pair}


def clip_psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True)])
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


EDGE_PX = 8  # the band along each side where content enters the frame


def edge_detail_retention(output: np.ndarray, reference: np.ndarray) -> float:
    """The lowest detail retention of the four ``EDGE_PX`` bands along the frame's sides: content
    entering the frame (rendered late, or filled in while frames are skipped) shows there."""
    e = EDGE_PX
    bands = [np.s_[:e], np.s_[-e:], np.s_[:, :e], np.s_[:, -e:]]
    return float(min(temporal.detail_retention(output[b], reference[b]) for b in bands))


def quality(outputs: list[np.ndarray], reference: list[np.ndarray], flows, masks=None) -> dict:
    """Detail retention against the per-frame reference (whole frame and the edge bands) and
    the blur-matched baseline."""
    pairs = list(zip(outputs, reference, strict=True))
    drs = [temporal.detail_retention(o, r) for o, r in pairs]
    edges = [edge_detail_retention(o, r) for o, r in pairs]
    energy = float(np.mean([temporal.gradient_energy(o) for o in outputs]))
    sigma = temporal.blur_matched_sigma(reference, energy)
    blurred = [temporal.gaussian_blur(r, sigma) for r in reference]
    return {
        "detail_retention": drs,
        "detail_retention_min": float(min(drs)),
        "detail_retention_mean": float(np.mean(drs)),
        "edge_detail_retention": edges,
        "edge_detail_retention_min": float(min(edges)),
        "blur_matched_sigma": sigma,
        "blur_matched_warp_error": exact_errors(blurred, flows, masks)["mean"],
        "psnr_to_per_frame_db": clip_psnr(outputs, reference),
    }


@torch.no_grad()
def latent_spread(pipe, frame: np.ndarray) -> dict[str, float]:
    """The spread (std over the latent, scaled) of ``frame``'s VAE posterior mean and the mean
    std of the posterior itself: a sampled latent (``--naive-latent sample``) is the first plus
    noise of the second's size."""
    vae = pipe.vae
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
    dist = getattr(vae.encode(x.to(vae.device, vae.dtype) / 127.5 - 1.0), "latent_dist", None)
    if dist is None:  # a deterministic encoder (AutoencoderTiny)
        return {}
    f = float(vae.config.scaling_factor)
    return {"mean_std": float(dist.mean.std()) * f, "posterior_std": float(dist.std.mean()) * f}


def run_naive(model: Path, opts: RestyleOptions, frames, device, dtype) -> dict:
    from PIL import Image

    pipe = load_pipeline(str(model), device, dtype)
    set_scheduler(pipe, opts.scheduler)
    counter = UNetCounter(pipe.unet)
    control: dict = {}
    c = opts.diffusion_control
    if c.controlnet:
        from diffusers import ControlNetModel, StableDiffusionControlNetImg2ImgPipeline

        net = ControlNetModel.from_pretrained(c.controlnet, local_files_only=True)
        pipe = StableDiffusionControlNetImg2ImgPipeline.from_pipe(
            pipe, controlnet=net.to(pipe.device)
        )
        pipe.set_progress_bar_config(disable=True)
    h, w = frames[0].shape[:2]
    outs, start, cpu = [], time.perf_counter(), time.process_time()
    for f in frames:
        gen = torch.Generator(device="cpu").manual_seed(opts.seed)
        if c.controlnet:  # the same control image as the temporal side (frame = work size)
            control = dict(
                control_image=Image.fromarray(ControlImager(c.control)(f)),
                controlnet_conditioning_scale=c.control_strength,
            )
        img = pipe(
            opts.prompt,
            image=Image.fromarray(f) if NAIVE_LATENT == "sample" else encode_image(pipe, f),
            **control,
            strength=opts.strength,
            num_inference_steps=opts.steps,
            guidance_scale=opts.guidance,
            negative_prompt=opts.negative_prompt or None,
            generator=gen,
        ).images[0]
        outs.append(np.asarray(img.resize((w, h))))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    counter.close()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "unet_calls": counter.calls,
        "unet_rows": counter.rows,
        "outputs": outs,
    }


def run_temporal(opts: RestyleOptions, device: DeviceOptions, frames, ctxs) -> dict:
    restyler = DiffusionRestyler(opts, device)
    outs, start, cpu = [], time.perf_counter(), time.process_time()
    shown_by = []
    for f, c in zip(frames, ctxs, strict=True):
        out = restyler(f, c)
        shown_by.append(restyler.shown_by)
        if out.shape[:2] != f.shape[:2]:
            out = cv2.resize(out, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_AREA)
        outs.append(out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    info = restyler.describe()
    info["latent_spread"] = latent_spread(restyler.pipe, frames[0])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "unet_calls": info["unet_calls"],
        "unet_rows": info["unet_rows"],
        "outputs": outs,
        "describe": info,
        "shown_by": shown_by,
    }


def cached_naive(folder: str, size: str, opts: RestyleOptions, frames, run) -> dict:
    """``run()`` once per setting: with ``folder``, the per-frame outputs (and their wall time
    and UNet calls) are kept there and reused by later runs with the same setting."""
    if not folder:
        return run()
    keys = ("prompt", "negative_prompt", "strength", "steps", "guidance", "scheduler", "seed")
    key = [size, len(frames)] + [getattr(opts, k) for k in keys]
    c = opts.diffusion_control
    if c.controlnet:
        key += [c.controlnet, c.control, c.control_strength]
    if (PHOTOS[0], "slow") != CLIP:  # the recorded clip keeps its cache name
        key += list(CLIP)
    if CLIP_NAME != "photo":
        key += [CLIP_NAME]
    if NAIVE_LATENT != "sample":  # the per-frame sides recorded before keep their cache names
        key += [f"latent-{NAIVE_LATENT}"]
    key = json.dumps(key)
    path = Path(folder) / f"naive-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
    if path.exists():
        data = np.load(path)
        return {
            "wall_s": float(data["wall_s"]),
            "cpu_s": float(data["cpu_s"]) if "cpu_s" in data else None,
            "unet_calls": int(data["unet_calls"]),
            "unet_rows": int(data["unet_rows"]) if "unet_rows" in data else 0,
            "outputs": list(data["outputs"]),
        }
    result = run()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        outputs=np.stack(result["outputs"]),
        wall_s=result["wall_s"],
        cpu_s=result["cpu_s"],
        unet_calls=result["unet_calls"],
        unet_rows=result["unet_rows"],
    )
    return result


def parse_overrides(items: list[str]) -> dict:
    """``["key=value", ...]`` -> restyle option overrides (bools, ints, floats, strings)."""
    defaults = RestyleOptions(prompt="p", model="m").flat()
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in defaults:
            raise SystemExit(f"--set wants KEY=VALUE with a restyle option, got {item!r}")
        default = defaults[key]
        if isinstance(default, bool):
            out[key] = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            out[key] = int(raw)
        elif isinstance(default, float):
            out[key] = float(raw)
        else:
            out[key] = raw
    return out


def bench_size(size: str, args, workdir: Path) -> dict:
    device = "cuda" if size in GPU_SIZES else args.device
    dtype = "fp16" if device == "cuda" else "fp32"
    height, width, work = SETUPS[size]
    if size == "real":
        model = Path(os.environ[REAL_MODEL_ENV])
    elif size == "trained":
        model = TRAINED
    else:
        model = build_tiny_model(workdir / size, size=size)
    controlnet = args.controlnet
    if controlnet == "random":
        controlnet = str(build_tiny_controlnet(model, workdir / f"{size}-controlnet"))
    clip = None if args.clip == "photo" else load_clip(args.clip, args.frames, height, width)
    if clip is None:
        (frames, flows), masks = make_clip(args.frames, height, width, args.photo), None
    else:
        frames, flows, masks = clip.frames, clip.flows, clip.trusted
    ctxs, analysis_s = make_contexts(frames, args.keyframe_interval)
    settings = dict(
        model=str(model),
        prompt="an oil painting of an astronaut, thick brush strokes",
        negative_prompt="blurry",
        strength=args.strength,
        reuse_strength=args.reuse_strength,
        steps=args.steps,
        guidance=args.guidance,
        scheduler=args.scheduler,
        work_size=work,
        seed=0,
        controlnet=controlnet or None,
        control=args.control,
        control_strength=args.control_strength,
    )
    opts = RestyleOptions().with_values(**{**settings, **parse_overrides(args.set)})
    naive = cached_naive(
        args.naive_cache, size, opts, frames, lambda: run_naive(model, opts, frames, device, dtype)
    )
    temp = run_temporal(opts, DeviceOptions(device=device, dtype=dtype), frames, ctxs)
    n = len(frames)
    t_err = exact_errors(temp["outputs"], flows, masks)
    n_err = exact_errors(naive["outputs"], flows, masks)
    row = {
        "size": size,
        "clip": args.clip,
        "device": device,
        "frame": [height, width],
        "frames": n,
        "source_warp_error": exact_errors(frames, flows, masks)["mean"],
        "controlnet": temp["describe"]["control"],
        "latent_spread": temp["describe"]["latent_spread"],
        "naive": {
            "latent": NAIVE_LATENT,
            "wall_s": naive["wall_s"],
            "cpu_s": naive["cpu_s"],
            "fps": n / naive["wall_s"],
            "unet_calls_per_frame": naive["unet_calls"] / n,
            "unet_rows_per_frame": naive["unet_rows"] / n,
            "warp_error": n_err,
        },
        "temporal": {
            "wall_s": temp["wall_s"],
            "cpu_s": temp["cpu_s"],
            "wall_with_analysis_s": temp["wall_s"] + analysis_s,
            "fps": n / temp["wall_s"],
            "unet_calls_per_frame": temp["unet_calls"] / n,
            "unet_rows_per_frame": temp["unet_rows"] / n,
            "skipped_frames": temp["describe"]["skipped_frames"],
            "covered_frames": temp["describe"]["covered_frames"],
            "filled_share_max": temp["describe"]["filled_share_max"],
            "unet_area_per_frame": temp["describe"]["unet_area_per_frame"],
            "boxed_frames": temp["describe"]["boxed_frames"],
            "boxed_share_mean": temp["describe"]["boxed_share_mean"],
            "warp_error": t_err,
            "keyframes": temp["describe"]["keyframes"],
            "anchored_keyframes": temp["describe"]["anchored_keyframes"],
            **quality(temp["outputs"], naive["outputs"], flows, masks),
        },
    }
    if clip is not None:
        row["regions"] = region_figures(temp["outputs"], naive["outputs"], clip)
        row["layers"] = layer_figures(temp["outputs"], naive["outputs"], clip, temp["shown_by"])
    if clip is not None and args.seeds > 1:
        row["seed_mean_regions"], row["regions_each_seed"], floors = more_seeds(
            args, size, model, opts, clip, ctxs, (device, dtype), (temp, naive, row["regions"])
        )
        if floors:  # ``--seed-floor``: the first seed's is against the second seed's render
            row["seed_floor_regions"], row["seed_floor_each_seed"] = floors[0], floors
    if clip is not None and args.seed_floor and "seed_floor_regions" not in row:
        # what a second per-frame render (another seed) scores against the first: the figures'
        # noise floor (a region's detail differs between two independent renders too)
        again = opts.with_values(seed=opts.seed + 1)
        other = cached_naive(
            args.naive_cache, size, again, frames,
            lambda: run_naive(model, again, frames, device, dtype),
        )  # fmt: skip
        row["seed_floor_regions"] = region_figures(other["outputs"], naive["outputs"], clip)
    t, nv = row["temporal"], row["naive"]
    row["ratios"] = {
        "unet_calls": nv["unet_calls_per_frame"] / t["unet_calls_per_frame"],
        "unet_rows": t["unet_rows_per_frame"] / max(nv["unet_rows_per_frame"], 1e-9),
        "wall": t["wall_s"] / nv["wall_s"],
        # processor time (both sides on one thread): what a loaded machine leaves comparable
        "cpu": t["cpu_s"] / nv["cpu_s"] if nv["cpu_s"] else None,
        "wall_with_analysis": t["wall_with_analysis_s"] / nv["wall_s"],
        "warp_error": t_err["mean"] / n_err["mean"],
        "warp_error_vs_blur_matched": t_err["mean"] / t["blur_matched_warp_error"],
        "worst_pair_over_mean": t_err["max"] / t_err["mean"],
    }
    if args.save_frames:
        out = Path(args.save_frames) / size
        out.mkdir(parents=True, exist_ok=True)
        for i in (0, n // 2, n - 1):
            pair = np.concatenate([frames[i], naive["outputs"][i], temp["outputs"][i]], axis=1)
            cv2.imwrite(str(out / f"frame{i:03d}.png"), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
    return row


def more_seeds(
    args, size, model, opts, clip, ctxs, where, first
) -> tuple[dict, list[dict], list[dict]]:
    """Both sides again with seeds ``opts.seed + 1 ..`` (``--seeds``), on the clip's contexts
    ``ctxs``: the regions' detail retention of the seeds' mean
    (``bench_regions.seed_mean_figures``), each seed's own region figures, and each seed's
    noise floor with ``--seed-floor`` (its per-frame render scored against the next seed's,
    the last against the first's; else []); ``first`` is the first seed's temporal and
    per-frame runs and its region figures."""
    device, dtype = where
    temp, naive, regions = first
    outputs, references, each = [temp["outputs"]], [naive["outputs"]], [regions]
    for k in range(1, args.seeds):
        again = opts.with_values(seed=opts.seed + k)
        naive = cached_naive(
            args.naive_cache, size, again, clip.frames,
            lambda again=again: run_naive(model, again, clip.frames, device, dtype),
        )  # fmt: skip
        temp = run_temporal(again, DeviceOptions(device=device, dtype=dtype), clip.frames, ctxs)
        outputs.append(temp["outputs"])
        references.append(naive["outputs"])
        each.append(region_figures(temp["outputs"], naive["outputs"], clip))
    n = len(references) if args.seed_floor else 0
    floors = [region_figures(references[(k + 1) % n], references[k], clip) for k in range(n)]
    return seed_mean_figures(outputs, references, clip), each, floors


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'model':6} {'side':9} {'wall s':>8} {'UNet/frame':>10} {'warp err':>9} {'worst':>9} "
        f"{'DR min':>7} {'DR mean':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        nv, t, q = r["naive"], r["temporal"], r["ratios"]
        ne, te = nv["warp_error"], t["warp_error"]
        print(
            f"{r['size']:6} {'per-frame':9} {nv['wall_s']:8.1f} {nv['unet_calls_per_frame']:10.2f} "
            f"{ne['mean']:9.5f} {ne['max']:9.5f} {1.0:7.3f} {1.0:7.3f}"
        )
        print(
            f"{'':6} {'temporal':9} {t['wall_s']:8.1f} {t['unet_calls_per_frame']:10.2f} "
            f"{te['mean']:9.5f} {te['max']:9.5f} {t['detail_retention_min']:7.3f} "
            f"{t['detail_retention_mean']:7.3f}"
        )
        print(
            f"{'':6} warp error x{q['warp_error']:.2f} of per-frame, x"
            f"{q['warp_error_vs_blur_matched']:.2f} of blur-matched per-frame (sigma "
            f"{t['blur_matched_sigma']:.2f}, {t['blur_matched_warp_error']:.5f}); worst pair "
            f"{te['worst_pair']} = {q['worst_pair_over_mean']:.2f}x mean"
        )
        print(
            f"{'':6} time x{q['wall']:.2f} (x{q['wall_with_analysis']:.2f} with flow analysis; "
            f"processor time x{q['cpu'] or float('nan'):.2f}), "
            f"{q['unet_calls']:.2f}x fewer UNet calls (rows x{q['unet_rows']:.2f}: "
            f"{t['unet_rows_per_frame']:.2f} vs {nv['unet_rows_per_frame']:.2f} a frame), "
            "PSNR to per-frame "
            f"{t['psnr_to_per_frame_db']:.1f} dB; source itself {r['source_warp_error']:.5f}"
        )
        print(
            f"{'':6} DR of the {EDGE_PX} px edge bands min {t['edge_detail_retention_min']:.3f}; "
            f"frames not rendered (skip_covered) {t['covered_frames']}, largest share filled "
            f"in {t['filled_share_max']:.4f}; rendered in boxes {t['boxed_frames']} (mean "
            f"share {t['boxed_share_mean']:.2f}); UNet work {t['unet_area_per_frame']:.2f} "
            "whole-frame calls a frame"
        )
        print(f"{'':6} per pair: " + " ".join(f"{e:.4f}" for e in te["per_pair"]))
        if r.get("latent_spread"):
            ls = r["latent_spread"]
            print(
                f"{'':6} the first frame's latent: spread {ls['mean_std']:.3f}, posterior std "
                f"{ls['posterior_std']:.3f} (per-frame side encodes the {r['naive']['latent']})"
            )
        if "regions" in r:
            print(f"{'':6} regions of the {r['clip']} clip (warp x = temporal / per-frame):")
            print_regions(r["regions"])
        if r.get("layers"):
            print(f"{'':6} by the layer that shows a pixel (temporal.Propagator.shown_by):")
            print_layers(r["layers"])
        if "seed_floor_regions" in r:
            print(f"{'':6} a per-frame render with another seed, scored the same way:")
            print_regions(r["seed_floor_regions"])
        if "seed_mean_regions" in r:
            for k, each in enumerate(r["regions_each_seed"][1:], start=1):
                print(f"{'':6} seed + {k}:")
                print_regions(each)
            print(f"{'':6} detail retention of the seeds' mean (temporal / per-frame, same seeds):")
            print_seed_mean(r["seed_mean_regions"])
        for k, floor in enumerate(r.get("seed_floor_each_seed", [])):
            print(f"{'':6} seed + {k}'s floor (its per-frame render against the next seed's):")
            print_regions(floor)


def runnable(size: str) -> bool:
    """GPU sizes need CUDA; ``real`` also needs ``VIDX_TEST_MODEL`` naming a local folder."""
    if size in GPU_SIZES and not torch.cuda.is_available():
        return False
    if size == "real":
        folder = os.environ.get(REAL_MODEL_ENV, "")
        return bool(folder) and (Path(folder) / "model_index.json").is_file()
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=["tiny", "mid", "trained", "sd15", "real"],
        choices=list(SETUPS),
    )
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--strength", type=float, default=0.6)
    parser.add_argument("--reuse-strength", type=float, default=0.35)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--keyframe-interval", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--photo", default="astronaut", choices=PHOTOS)
    parser.add_argument("--motion", default="slow", choices=list(MOTIONS))
    parser.add_argument(
        "--clip", default="photo", choices=CLIPS, help="photo (--photo, --motion) or a region clip"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="restyle option"
    )
    parser.add_argument(
        "--naive-cache", default="", help="folder to keep and reuse the per-frame outputs"
    )
    parser.add_argument(
        "--controlnet", default="", help="random (seeded, built for the model) or a folder"
    )
    parser.add_argument("--control", default="canny", choices=["canny", "edges"])
    parser.add_argument("--control-strength", type=float, default=1.0)
    parser.add_argument(
        "--seed-floor",
        action="store_true",
        help="also score a per-frame render with another seed against the per-frame one "
        "(the regions' noise floor)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="region clips: run both sides with this many seeds and report the regions' "
        "detail retention of the seeds' mean (one render's detail in a small region is a draw)",
    )
    parser.add_argument(
        "--naive-latent",
        choices=("mean", "sample"),
        default="mean",
        help="the per-frame side encodes each frame as the VAE posterior's mean, as vidx does, "
        "or a sample of it (diffusers' default; the figures before 2026-12-07)",
    )
    parser.add_argument("--save-frames", default="", help="folder for source|naive|temporal PNGs")
    parser.add_argument("--out", default="bench-results/diffusion_restyle.json")
    args = parser.parse_args(argv)
    global MOTION, CLIP, CLIP_NAME, NAIVE_LATENT
    MOTION, CLIP, CLIP_NAME = MOTIONS[args.motion], (args.photo, args.motion), args.clip
    NAIVE_LATENT = args.naive_latent
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [s for s in args.sizes if runnable(s)]
    for s in sorted(set(args.sizes) - set(sizes)):
        why = f"CUDA and {REAL_MODEL_ENV}=SD1.5 folder" if s == "real" else "CUDA"
        print(f"skipping {s}: needs {why}", file=sys.stderr)
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
