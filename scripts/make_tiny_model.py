"""Build a random-weight Stable Diffusion img2img model folder from configs (no download).

Usage: ``python scripts/make_tiny_model.py OUT_DIR [--size tiny|mid|sd15] [--seed 0]
[--time-cond-proj-dim N]``

The way diffusers tests its pipelines: a UNet, a VAE and a CLIP text encoder built from small
configs with fixed seeds, a hand-made byte-level BPE tokenizer (vocab.json + merges.txt written
here), a DDIM scheduler with the SD1.x noise schedule, saved with ``save_pretrained``.

- ``tiny``: the diffusers test layout (UNet channels (32, 64), VAE factor 2) — unit tests.
- ``mid``: the SD1.x layout (4 UNet levels, VAE factor 8) with narrower channels — CPU benchmark.
- ``sd15``: the real SD1.5 layout and sizes with random weights (~1 B parameters) — GPU only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SIZES = ("tiny", "mid", "sd15")
# SD1.x's noise schedule: what the saved DDIM scheduler uses, and what small-sd was trained on
SD1_SCHEDULE = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
)
TRAINED = "trained"  # not built: the small model trained on photos that ships with vidx


def _bytes_to_unicode() -> list[str]:
    """The 256 printable characters GPT-2/CLIP byte-level BPE uses for the bytes 0..255."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_tokenizer(folder: Path) -> None:
    """Write a small CLIP tokenizer: every byte (alone and word-final) plus a few merges."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    for c in chars:
        vocab.setdefault(c + "</w>", len(vocab))
    merges = ["t h", "th e</w>", "a n", "o n</w>", "i n", "e r", "s t", "o r"]
    for m in merges:
        vocab.setdefault(m.replace(" ", ""), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def _configs(size: str, width_mult: int) -> tuple[dict, dict, dict]:
    """UNet, VAE and CLIP text configs for one of ``SIZES``."""
    if size == "tiny":
        ch = tuple(c * width_mult for c in (32, 64))
        unet = dict(
            block_out_channels=ch,
            layers_per_block=2,
            sample_size=32,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=(2, 4),
        )
        vae = dict(block_out_channels=[32, 64], layers_per_block=1, sample_size=64)
        text = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=5, heads=4)
    elif size == "mid":
        ch = tuple(c * width_mult for c in (64, 128, 256, 256))
        unet = dict(
            block_out_channels=ch,
            layers_per_block=2,
            sample_size=32,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=256,
            attention_head_dim=8,
        )
        vae = dict(block_out_channels=[32, 64, 128, 128], layers_per_block=1, sample_size=256)
        text = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, heads=4)
    elif size == "sd15":
        unet = dict(
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            sample_size=64,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=768,
            attention_head_dim=8,
        )
        vae = dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, sample_size=512)
        text = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, heads=12)
    else:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    return unet, vae, text


def save_img2img(out: Path, *, unet, vae, text_encoder, tokenizer) -> None:
    """Save the parts as an SD1.x img2img pipeline folder: a DDIM scheduler with the SD1.x noise
    schedule (scaled linear, 0.00085 to 0.012 over 1000 steps), no safety checker."""
    from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline

    scheduler = DDIMScheduler(
        **SD1_SCHEDULE, clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    pipe = StableDiffusionImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def build_tiny_model(
    out_dir: str | Path,
    *,
    size: str = "tiny",
    width_mult: int = 1,
    seed: int = 0,
    time_cond_proj_dim: int | None = None,
):
    """Build and save a random SD img2img model to ``out_dir``; returns the folder as a Path.

    ``size`` picks the layout (``tiny``, ``mid``, ``sd15``); ``width_mult`` widens the UNet
    channels of ``tiny``/``mid``; ``time_cond_proj_dim`` gives the UNet a guidance embedding
    the way LCM-distilled models have one. Weights are seeded, so the same call gives the same
    files.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(out_dir)
    unet_cfg, vae_cfg, text_cfg = _configs(size, width_mult)
    n_vae = len(vae_cfg["block_out_channels"])
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=4, time_cond_proj_dim=time_cond_proj_dim, **unet_cfg
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * n_vae,
        up_block_types=["UpDecoderBlock2D"] * n_vae,
        latent_channels=4,
        **vae_cfg,
    )
    tok_dir = out / "_tokenizer_src"
    write_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=text_cfg["hidden_size"],
            intermediate_size=text_cfg["intermediate_size"],
            num_hidden_layers=text_cfg["num_hidden_layers"],
            num_attention_heads=text_cfg["heads"],
            layer_norm_eps=1e-5,
            vocab_size=1000,
            max_position_embeddings=77,
        )
    )
    save_img2img(out, unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return out


def build_tiny_xl_model(out_dir: str | Path, *, seed: int = 0):
    """A tiny random SDXL img2img model (two text encoders, text-time conditioning), saved to
    ``out_dir``; returns the folder. Used to test the SDXL path."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    out = Path(out_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        sample_size=64,
    )
    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=5,
        num_attention_heads=4,
        layer_norm_eps=1e-5,
        vocab_size=1000,
        max_position_embeddings=77,
        projection_dim=32,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(config)
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    tok_dir = out / "_tokenizer_src"
    write_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
        requires_aesthetics_score=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--width-mult", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--time-cond-proj-dim", type=int, default=None, help="guidance embedding (LCM-like)"
    )
    args = parser.parse_args(argv)
    build_tiny_model(
        args.out_dir,
        size=args.size,
        width_mult=args.width_mult,
        seed=args.seed,
        time_cond_proj_dim=args.time_cond_proj_dim,
    )


if __name__ == "__main__":
    main()


def bench_model(folder: str | Path, size: str) -> Path:
    """The model a benchmark runs at ``size``: for ``trained`` the shipped small-sd (trained on
    photos by scripts/train_small_model.py; ``folder`` is not used), else a random-weight one
    built into ``folder`` from configs."""
    if size == TRAINED:
        from vidx.restyle.diffusion.builtin import REGISTRY

        return REGISTRY["small-sd"].folder
    return build_tiny_model(folder, size=size)
