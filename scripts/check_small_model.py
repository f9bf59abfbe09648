"""Check a small trained diffusion model (scripts/train_small_model.py) on content.

Usage: ``python scripts/check_small_model.py [MODEL_DIR] [--baseline mid] [--out PATH]``

Prints a table and writes JSON (default ``bench-small-model.json``). Two checks, the same for
the trained model and, side by side, a random-weight baseline built from configs
(``scripts/make_tiny_model.py``, ``mid`` by default):

- **img2img keeps the structure.** Each held-out photo (never trained on), 256 px, restyled with
  diffusers' ``StableDiffusionImg2ImgPipeline`` at strength 0.5, 20 DDIM steps, empty prompt,
  seed 0 (and again with a prompt at guidance 7.5, the benchmarks' setting: ``guided``).
  ``ncc``: ``temporal.structure_ncc`` of output and source (blurred gradient magnitude; 1 = same
  edges, 0 = unrelated). ``hf``: gradient energy of the output over the source's (1 = as
  detailed; the issue asks 0.5 to 2, i.e. not smoothed away and not noise).
- **It makes pictures from noise.** 8 images from pure noise, 20 steps, 128 px (the training
  crop size), compared with 256 seeded training crops: gradient energy, per-channel contrast
  (std) and saturation, as ratios generated / photos (the issue asks 0.5 to 2).

The default ``MODEL_DIR`` is the shipped model (``vidx/restyle/diffusion/small-sd``, that is
``--model small-sd``).
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

import temporal  # noqa: E402

SHIPPED = ROOT / "vidx" / "restyle" / "diffusion" / "small-sd"
SIZE = 256
STRENGTH = 0.5
STEPS = 20


def held_out(size: int = SIZE) -> dict[str, np.ndarray]:
    """The held-out photos, centre-cropped square and resized to ``size``."""
    from train_small_model import held_out_photos

    out = {}
    for name, picture in held_out_photos().items():
        h, w = picture.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        square = picture[y : y + s, x : x + s]
        out[name] = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    return out


def pipelines(folder: Path):
    from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    img2img = StableDiffusionImg2ImgPipeline.from_pretrained(folder, safety_checker=None)
    img2img.scheduler = DDIMScheduler.from_config(img2img.scheduler.config)
    img2img.set_progress_bar_config(disable=True)
    text2img = StableDiffusionPipeline(**img2img.components)
    text2img.set_progress_bar_config(disable=True)
    return img2img, text2img


def structure(
    img2img, photos: dict[str, np.ndarray], prompt: str = "", guidance: float = 1.0
) -> dict[str, dict]:
    from PIL import Image

    rows = {}
    for name, photo in photos.items():
        out = img2img(
            prompt=prompt,
            image=Image.fromarray(photo),
            strength=STRENGTH,
            num_inference_steps=STEPS,
            guidance_scale=guidance,
            generator=torch.Generator().manual_seed(0),
        ).images[0]
        out = np.asarray(out)
        rows[name] = {
            "ncc": temporal.structure_ncc(out, photo),
            "hf": temporal.gradient_energy(out) / temporal.gradient_energy(photo),
        }
    return rows


def picture_stats(images: np.ndarray) -> dict[str, float]:
    """Mean gradient energy, per-channel contrast and saturation of uint8 ``(n, H, W, 3)``."""
    hsv = np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2HSV) for im in images])
    return {
        "gradient": float(np.mean([temporal.gradient_energy(im) for im in images])),
        "contrast": float(np.mean(images.reshape(len(images), -1, 3).std(axis=1)) / 255),
        "saturation": float(hsv[..., 1].mean() / 255),
    }


def from_noise(text2img, n: int = 8) -> np.ndarray:
    out = text2img(
        prompt=[""] * n,
        height=128,
        width=128,
        num_inference_steps=STEPS,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def check_model(folder: Path, *, threads: int = 2, samples_to: Path | None = None) -> dict:
    """The figures of one model folder (see the module docstring)."""
    from train_small_model import make_crops, training_photos

    torch.set_num_threads(threads)
    t0 = time.time()
    img2img, text2img = pipelines(folder)
    photos = held_out()
    rows = structure(img2img, photos)
    guided = structure(img2img, photos, prompt="an oil painting", guidance=7.5)
    generated = from_noise(text2img)
    crops, _ = make_crops(training_photos(), 256, seed=1)
    gen_stats, photo_stats = picture_stats(generated), picture_stats(crops)
    if samples_to is not None:
        samples_to.mkdir(parents=True, exist_ok=True)
        sheet = np.concatenate(list(generated), axis=1)
        cv2.imwrite(str(samples_to / "from-noise.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return {
        "img2img": rows,
        "ncc_min": min(r["ncc"] for r in rows.values()),
        "hf_range": [min(r["hf"] for r in rows.values()), max(r["hf"] for r in rows.values())],
        "img2img_guided": guided,
        "from_noise": gen_stats,
        "photos": photo_stats,
        "from_noise_ratio": {k: gen_stats[k] / photo_stats[k] for k in gen_stats},
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?", type=Path, default=SHIPPED)
    ap.add_argument("--baseline", default="mid", help="random model size to compare ('none': skip)")
    ap.add_argument("--out", type=Path, default=Path("bench-small-model.json"))
    ap.add_argument("--samples", type=Path, help="write the from-noise pictures here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    results = {"trained": check_model(args.model, threads=args.threads, samples_to=args.samples)}
    if args.baseline != "none":
        from make_tiny_model import build_tiny_model

        with tempfile.TemporaryDirectory() as tmp:
            folder = build_tiny_model(Path(tmp) / "m", size=args.baseline)
            results[f"random {args.baseline}"] = check_model(folder, threads=args.threads)
    print(f"{'model':<12} {'photo':<10} {'ncc':>6} {'hf':>6} {'guided ncc':>11} {'hf':>6}")
    for model, r in results.items():
        for name, row in r["img2img"].items():
            g = r["img2img_guided"][name]
            print(
                f"{model:<12} {name:<10} {row['ncc']:6.3f} {row['hf']:6.2f} "
                f"{g['ncc']:11.3f} {g['hf']:6.2f}"
            )
    print(f"\n{'model':<12} from noise / photos: gradient, contrast, saturation")
    for model, r in results.items():
        ratio = r["from_noise_ratio"]
        figures = (ratio[k] for k in ("gradient", "contrast", "saturation"))
        print(f"{model:<12} " + "  ".join(f"{f:.2f}" for f in figures))
    results["machine"] = f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}"
    results["model"] = str(args.model)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
