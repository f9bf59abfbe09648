"""Train a small latent diffusion model on the CPU, from openly licensed photos (no download).

Usage: ``python scripts/train_small_model.py OUT_DIR [--vae-steps N] [--unet-steps N]
[--seed 0] [--threads 2] [--check]``

The model is a Stable Diffusion 1.x pipeline in diffusers format, only small: an
``AutoencoderKL`` (4 latent channels, factor 4), a ``UNet2DConditionModel`` with the SD1.x
layout (three cross-attention down levels and a plain one, cross-attention to a CLIP text
encoder), the SD1.x noise schedule in a DDIM scheduler, and a byte-level CLIP tokenizer. It is
trained in three steps:

1. The photos: scikit-image's data and Debian's ``opencv-doc`` sample pictures (fetched with
   ``apt-get download`` into ``.cache/test-media``, as the tests fetch the real clips), cut into
   seeded, augmented 128 px crops (scale, flip, small colour changes). Three photos are held
   out for the checks (``HELD_OUT``) and are never trained on.
2. The autoencoder: L1 + Sobel-gradient L1 + a small KL term, so it keeps edges.
3. The UNet: epsilon prediction on the autoencoder's latents (drawn from its posterior every
   step), min-SNR weighting, a caption per photo with 20 % dropped (for guidance), an EMA of the
   weights kept and saved. The text encoder stays at its seeded random weights: the text
   conditioning is weak (see the model card).

Everything is seeded; the same command gives the same files on the same machine and torch
version. The script prints its loss curve and writes ``MODEL_CARD.md`` and ``training.json``
(losses, time, the ``--check`` figures) into ``OUT_DIR``. ``--check`` then measures the issue's
acceptance figures on the held-out photos (``scripts/check_small_model.py`` does the same on a
saved model).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from make_tiny_model import SD1_SCHEDULE as SCHEDULE  # noqa: E402
from make_tiny_model import save_img2img, write_tokenizer  # noqa: E402

CROP = 128
FACTOR = 4  # the autoencoder's downsampling (three levels)
HELD_OUT = ("astronaut", "coffee", "chelsea")  # never trained on: the checks use them

# scikit-image's data (public domain or CC0 by scikit-image's own listing) and a caption each
SKIMAGE = {
    "rocket": "a rocket on a launch pad",
    "hubble_deep_field": "galaxies in deep space",
    "retina": "a photo of a retina",
    "immunohistochemistry": "a stained tissue sample",
    "brick": "a brick wall",
    "grass": "grass",
    "gravel": "gravel",
    "camera": "a man with a camera",
    "coins": "old coins",
    "moon": "the surface of the moon",
}
# Debian's opencv-doc examples/data (Apache-2.0 AND BSD-3-Clause, debian/copyright "Files: *";
# the +dfsg package has the non-free pictures removed) and a caption each
OPENCV_DOC = {
    "HappyFish.jpg": "a fish in an aquarium",
    "aero1.jpg": "a street from above",
    "aero3.jpg": "a street from above",
    "aloeL.jpg": "an aloe plant",
    "apple.jpg": "a red apple",
    "baboon.jpg": "a baboon",
    "board.jpg": "a circuit board",
    "building.jpg": "a building",
    "butterfly.jpg": "a butterfly",
    "chicky_512.png": "a yellow chick",
    "ela_original.jpg": "a landscape",
    "fruits.jpg": "fruits",
    "graf1.png": "graffiti on a wall",
    "home.jpg": "a house",
    "left.jpg": "a room",
    "leuvenA.jpg": "a street with houses",
    "licenseplate_motion.jpg": "a car",
    "messi5.jpg": "a football player",
    "orange.jpg": "an orange",
    "rubberwhale1.png": "toys on a table",
    "smarties.png": "sweets",
    "squirrel_cls.jpg": "a squirrel",
    "starry_night.jpg": "a painting of a starry night",
    "stuff.jpg": "things on a table",
    "basketball1.png": "people playing basketball",
    "box_in_scene.png": "a box among things",
    "Blender_Suzanne1.jpg": "a grey monkey head",
}
OPENCV_DOC_DIR = "usr/share/doc/opencv-doc/examples/data"
MEDIA_CACHE = ROOT / ".cache" / "test-media"

VAE = dict(
    block_out_channels=[32, 64, 64],
    down_block_types=["DownEncoderBlock2D"] * 3,
    up_block_types=["UpDecoderBlock2D"] * 3,
    layers_per_block=1,
    latent_channels=4,
    mid_block_add_attention=False,
    norm_num_groups=16,
    sample_size=CROP,
)
UNET = dict(
    sample_size=CROP // FACTOR,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64, 128, 128),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=64,
    attention_head_dim=(1, 2, 4, 4),  # heads per level (diffusers' SD1.x naming): 32 wide each
    norm_num_groups=16,
)
TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=77,
)


def log(*parts: object) -> None:
    print(*parts, flush=True)


# 1. The photos -----------------------------------------------------------------------------


def opencv_doc_folder() -> Path | None:
    """Debian's opencv-doc sample pictures, extracted under .cache/test-media (None if absent)."""
    work = MEDIA_CACHE / "_opencv-doc"
    folder = work / "x" / OPENCV_DOC_DIR
    if folder.is_dir():
        return folder
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return None
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not list(work.glob("opencv-doc_*.deb")):
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=work, check=True, timeout=600)
        deb = next(work.glob("opencv-doc_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(work / "x")], check=True, timeout=600)
    except (subprocess.SubprocessError, OSError, StopIteration):
        return None
    return folder if folder.is_dir() else None


def rgb(picture: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) from a grey, RGB or RGBA picture of any integer or float range."""
    if picture.dtype != np.uint8:
        p = picture.astype(np.float64)
        p = (p - p.min()) / max(p.max() - p.min(), 1e-9)
        picture = (p * 255).round().astype(np.uint8)
    if picture.ndim == 2:
        picture = np.repeat(picture[:, :, None], 3, axis=2)
    return np.ascontiguousarray(picture[:, :, :3])


def training_photos() -> list[tuple[str, str, np.ndarray]]:
    """``[(name, caption, RGB uint8)]``: scikit-image's photos and, when it can be had,
    opencv-doc's; the held-out photos are never among them."""
    from skimage import data

    photos = [(name, cap, rgb(getattr(data, name)())) for name, cap in SKIMAGE.items()]
    folder = opencv_doc_folder()
    if folder is None:
        log("opencv-doc could not be had: training on scikit-image's photos only")
    else:
        for name, cap in OPENCV_DOC.items():
            bgr = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
            if bgr is not None:
                photos.append((name, cap, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    assert not {n for n, _, _ in photos} & set(HELD_OUT)
    return photos


def held_out_photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {name: rgb(getattr(data, name)()) for name in HELD_OUT}


def make_crops(photos, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` augmented ``CROP`` px crops (uint8 ``(n, CROP, CROP, 3)``) and the index of the
    photo each came from. Augmentation: scale (the short side 1 to 4 crops, never enlarged
    past 1.25x), horizontal flip, brightness and saturation within 10 %. Every photo is drawn
    equally often, whatever its size."""
    rng = np.random.default_rng(seed)
    crops = np.empty((n, CROP, CROP, 3), np.uint8)
    which = rng.integers(0, len(photos), n)
    for i, k in enumerate(which):
        picture = photos[k][2]
        short = min(picture.shape[:2])
        scale = rng.uniform(CROP, max(CROP, min(4 * CROP, 1.25 * short))) / short
        h, w = (max(CROP, round(s * scale)) for s in picture.shape[:2])
        resized = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA)
        y, x = rng.integers(0, h - CROP + 1), rng.integers(0, w - CROP + 1)
        crop = resized[y : y + CROP, x : x + CROP].astype(np.float32)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        grey = crop.mean(axis=2, keepdims=True)
        crop = grey + (crop - grey) * rng.uniform(0.9, 1.1)
        crop *= rng.uniform(0.9, 1.1)
        crops[i] = np.clip(crop, 0, 255).round().astype(np.uint8)
    return crops, which


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """uint8 ``(n, H, W, 3)`` to float ``(n, 3, H, W)`` in [-1, 1]."""
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# 2. The autoencoder ------------------------------------------------------------------------


def warmup_cosine(opt, steps: int, warmup: int = 100):
    """Linear warm-up over ``warmup`` steps, then a cosine down to a tenth of the rate."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(steps - warmup, 1)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * min(done, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def sobel(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
    weight = torch.stack([k, k.t()])[:, None].repeat(
        3, 1, 1, 1
    )  # (6, 1, 3, 3): x and y per channel
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), weight, groups=3)


def train_vae(crops: np.ndarray, steps: int, seed: int, batch: int = 8, size: int = 64):
    """The autoencoder, on random ``size`` px windows of the crops (it is convolutional: what
    it learns on small windows holds on any size, at a quarter of the cost)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(in_channels=3, out_channels=3, **VAE)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    sched = warmup_cosine(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(crops), (batch,), generator=gen).numpy()
        y0, x0 = torch.randint(0, CROP - size + 1, (2,), generator=gen).tolist()
        x = to_tensor(crops[idx, y0 : y0 + size, x0 : x0 + size])
        posterior = vae.encode(x).latent_dist
        z = posterior.sample(generator=gen)
        y = vae.decode(z).sample
        rec = (y - x).abs().mean()
        grad = (sobel(y) - sobel(x)).abs().mean()
        kl = posterior.kl().mean() / x[0].numel()
        loss = rec + 2.0 * grad + 1e-5 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append((float(rec), float(grad), float(kl)))
        if (step + 1) % max(steps // 20, 1) == 0 or step == 0:
            r, g, k = np.mean(losses[-50:], axis=0)
            took = time.time() - t0
            log(f"vae  {step + 1:6d}/{steps}  L1 {r:.4f}  grad {g:.4f}  kl {k:.3f}  {took:6.0f} s")
    return vae.eval(), losses


@torch.no_grad()
def encode_all(vae, crops: np.ndarray, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The posterior's mean and std of every crop (the UNet draws a latent from them)."""
    means, stds = [], []
    for i in range(0, len(crops), batch):
        d = vae.encode(to_tensor(crops[i : i + batch])).latent_dist
        means.append(d.mean)
        stds.append(d.std)
    return torch.cat(means), torch.cat(stds)


# 3. The UNet -------------------------------------------------------------------------------


def text_embeddings(captions: list[str], seed: int):
    """Tokenizer, frozen seeded text encoder and the embedding of each caption and of ""."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = MEDIA_CACHE.parent / "small-sd-tokenizer"
    write_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(
        vocab_size=len(tokenizer), pad_token_id=1, bos_token_id=0, eos_token_id=1, **TEXT
    )
    encoder = CLIPTextModel(cfg).eval()
    with torch.no_grad():
        ids = tokenizer(
            [*captions, ""],
            padding="max_length",
            max_length=77,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        emb = encoder(ids)[0]
    return tokenizer, encoder, emb


def train_unet(latents, which, emb, steps: tuple[int, int], seed: int, batch: int = 16):
    """The UNet, ``steps[0]`` steps on random half-size latent windows (a quarter of the
    cost, the same content scale), then ``steps[1]`` on whole crops; one learning-rate cycle."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    mean, std = latents
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**UNET)
    ema = UNet2DConditionModel(**UNET)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    noise_sched = DDPMScheduler(**SCHEDULE)
    alphas = noise_sched.alphas_cumprod
    snr = alphas / (1 - alphas)
    opt = torch.optim.AdamW(unet.parameters(), lr=5e-4, weight_decay=1e-2)
    total = sum(steps)
    sched = warmup_cosine(opt, total)
    gen = torch.Generator().manual_seed(seed + 1)
    empty = emb[-1:]
    which = torch.from_numpy(which)
    losses = []
    t0 = time.time()
    side = mean.shape[-1]
    for step in range(total):
        idx = torch.randint(0, len(mean), (batch,), generator=gen)
        w = side // 2 if step < steps[0] else side
        y0, x0 = torch.randint(0, side - w + 1, (2,), generator=gen).tolist()
        m, s = (a[idx, :, y0 : y0 + w, x0 : x0 + w] for a in (mean, std))
        z0 = m + s * torch.randn(m.shape, generator=gen)
        noise = torch.randn(z0.shape, generator=gen)
        t = torch.randint(0, SCHEDULE["num_train_timesteps"], (batch,), generator=gen)
        zt = noise_sched.add_noise(z0, noise, t)
        cond = emb[which[idx]]
        drop = torch.rand(batch, generator=gen) < 0.2
        cond = torch.where(drop[:, None, None], empty.expand_as(cond), cond)
        pred = unet(zt, t, encoder_hidden_states=cond).sample
        weight = torch.clamp(snr[t], max=5.0) / snr[t]  # min-SNR-5 for epsilon prediction
        loss = (weight * ((pred - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), unet.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
        losses.append(float(loss))
        if (step + 1) % max(total // 25, 1) == 0 or step == 0:
            took, recent = time.time() - t0, np.mean(losses[-100:])
            log(f"unet {step + 1:6d}/{total}  {w}x{w}  loss {recent:.4f}  {took:6.0f} s")
    return ema.eval(), losses


# Saving and the card -----------------------------------------------------------------------


def save_pipeline(out: Path, vae, unet, tokenizer, encoder, scaling: float) -> None:
    vae.register_to_config(scaling_factor=scaling)
    save_img2img(out, unet=unet, vae=vae, text_encoder=encoder, tokenizer=tokenizer)


def machine(threads: int) -> str:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln),
        platform.machine(),
    )
    return f"{cpu}, {threads} threads, torch {torch.__version__}"


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def write_card(out: Path, report: dict) -> None:
    """``MODEL_CARD.md``: what the model is, what it saw, what it can and cannot do."""
    check = report.get("check")
    figures = "Not measured (run `python scripts/check_small_model.py` on the folder).\n"
    if check:
        rows = "".join(
            f"| {name} | {r['ncc']:.3f} | {r['hf']:.2f} |\n" for name, r in check["img2img"].items()
        )
        guided = check.get("img2img_guided", {})
        rows = "".join(
            f"| {name} | {r['ncc']:.3f} | {r['hf']:.2f} | "
            f"{guided[name]['ncc']:.3f} | {guided[name]['hf']:.2f} |\n"
            for name, r in check["img2img"].items()
            if name in guided
        )
        ratio = check["from_noise_ratio"]
        figures = (
            "img2img at strength 0.5, 20 DDIM steps, 256 px, on photos it never saw, without\n"
            "guidance (empty prompt, guidance 1) and with a prompt at guidance 7.5:\n\n"
            "| held-out photo | structure NCC | detail (gradient energy / source) | NCC at 7.5 "
            "| detail at 7.5 |\n"
            f"|---|---|---|---|---|\n{rows}\n"
            "From pure noise (20 steps, 128 px), over the training crops: gradient energy "
            f"{ratio['gradient']:.2f}x, contrast {ratio['contrast']:.2f}x, "
            f"saturation {ratio['saturation']:.2f}x: photo-like colour and texture, softer than\n"
            "the photos.\n"
        )
    photos = ", ".join(report["photos"])
    text = f"""# small-sd: a small latent diffusion model trained on a CPU

Made by `scripts/train_small_model.py` (seed {report["seed"]}), in diffusers format, for
vidx's tests and benchmarks: a model whose output has content, where the random-weight test
models give noise. It is **not** a substitute for Stable Diffusion's weights.

## What it is
- The Stable Diffusion 1.x layout, small: `AutoencoderKL` (channels {VAE["block_out_channels"]},
  4 latent channels, factor {FACTOR}, latent scaling {report["latent_scaling_factor"]:.4f}),
  `UNet2DConditionModel` (channels {list(UNET["block_out_channels"])}, three cross-attention
  down levels and a plain one, cross-attention width {UNET["cross_attention_dim"]}), a CLIP text
  encoder ({TEXT["num_hidden_layers"]} layers, width {TEXT["hidden_size"]}, seeded random weights,
  never trained), a byte-level CLIP tokenizer, a DDIM scheduler with SD1.x's noise schedule.
- Trained {report["vae_steps"]} autoencoder steps (64 px windows) and
  {report["unet_steps"][0]} + {report["unet_steps"][1]} UNet steps (half-size latent windows,
  then whole crops; epsilon prediction, min-SNR 5, EMA 0.999) on {report["crops"]} augmented
  {CROP} px crops, in {report["train_seconds"] / 60:.0f} minutes on {report["machine"]}.
  Size {report["megabytes"]} MB.

## Data and licences
- scikit-image's data (public domain or CC0 as scikit-image lists them) and Debian's
  `opencv-doc` 4.6.0+dfsg sample pictures (Apache-2.0 AND BSD-3-Clause per the package's
  `debian/copyright`; the +dfsg package has the non-free pictures removed).
- Trained on: {photos}.
- Held out (never trained on; the checks use them): {", ".join(report["held_out"])}.

## What it can do
{figures}
## What it cannot do
- Follow prompts: the text encoder is random and each photo had one short caption, so the
  text conditioning is weak; a prompt changes the picture a little, not what it shows.
- Take high guidance: classifier-free guidance magnifies that weak, untrained difference, so at
  7.5 (SD1.5's usual setting) the output loses structure and gains false detail (the table's
  last columns). Use guidance 1 to 3 with it.
- Keep the finest detail: its factor-4 autoencoder, trained for 12 minutes, keeps about half
  a photo's gradient energy.
- Make detailed pictures from noise: it learnt from about forty photos, so from noise it
  makes photo-like colour and texture, not objects.
- Stand in for Stable Diffusion's quality: use it to measure what a method does to a picture's
  structure and detail (steadiness, smears, what enters the frame), not to judge a look.
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--vae-steps", type=int, default=1800)
    ap.add_argument(
        "--unet-steps",
        type=int,
        nargs=2,
        default=(4000, 1000),
        metavar=("HALF", "WHOLE"),
        help="UNet steps on half-size latent windows, then on whole crops",
    )
    ap.add_argument("--crops", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="measure the acceptance figures after")
    ap.add_argument(
        "--card-only",
        action="store_true",
        help="only write MODEL_CARD.md again from OUT/training.json (no training)",
    )
    args = ap.parse_args()
    if args.card_only:
        write_card(args.out, json.loads((args.out / "training.json").read_text("utf-8")))
        return
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.time()

    photos = training_photos()
    log(f"{len(photos)} training photos; held out: {', '.join(HELD_OUT)}")
    crops, which = make_crops(photos, args.crops, args.seed)
    vae, vae_losses = train_vae(crops, args.vae_steps, args.seed)
    vae_s = time.time() - started
    mean, std = encode_all(vae, crops)
    scaling = float(1.0 / mean.std())
    log(f"latent scaling factor {scaling:.4f}")
    tokenizer, encoder, emb = text_embeddings([c for _, c, _ in photos], args.seed)
    latents = (mean * scaling, std * scaling)
    unet, unet_losses = train_unet(latents, which, emb, tuple(args.unet_steps), args.seed)
    train_s = time.time() - started

    args.out.mkdir(parents=True, exist_ok=True)
    save_pipeline(args.out, vae, unet, tokenizer, encoder, scaling)
    report = {
        "seed": args.seed,
        "vae_steps": args.vae_steps,
        "unet_steps": list(args.unet_steps),
        "crops": args.crops,
        "crop": CROP,
        "photos": [n for n, _, _ in photos],
        "held_out": list(HELD_OUT),
        "vae_seconds": round(vae_s, 1),
        "train_seconds": round(train_s, 1),
        "latent_scaling_factor": scaling,
        "vae_loss_curve": [
            list(map(float, np.mean(vae_losses[i : i + 100], axis=0)))
            for i in range(0, len(vae_losses), 100)
        ],
        "unet_loss_curve": [
            float(np.mean(unet_losses[i : i + 200])) for i in range(0, len(unet_losses), 200)
        ],
        "machine": machine(args.threads),
        "megabytes": round(folder_mb(args.out), 1),
    }
    log(f"trained in {train_s / 60:.1f} min; {report['megabytes']} MB")
    if args.check:
        from check_small_model import check_model

        report["check"] = check_model(args.out, threads=args.threads)
    write_card(args.out, report)
    (args.out / "training.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
