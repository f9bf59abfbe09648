"""Build a random-weight ControlNet for a scripts/make_tiny_model.py folder (no download).

Usage: ``python scripts/make_tiny_controlnet.py MODEL_DIR OUT_DIR [--seed 0] [--gain 0.5]
[--embed-gain 16]``

``ControlNetModel.from_unet`` copies the model's UNet encoder; its control embedding gets as many
stride-2 convolutions as the VAE downsamples (so the control image is at the working size). A
fresh ControlNet has zero convolutions at its outputs and the end of its control embedding (it
changes nothing until trained); here they get seeded random weights times ``gain``, so the
ControlNet has an effect that tests and benchmarks can see, and the control embedding's output
convolution is scaled by ``embed_gain`` more (a random embedding's output is ~15x smaller than
the latent features it is added to, so the control image itself would barely matter). Saved as
safetensors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EMBED_CHANNELS = (16, 32, 96, 256)  # diffusers' default control embedding widths (8x)


def build_tiny_controlnet(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    gain: float = 0.5,
    embed_gain: float = 16.0,
) -> Path:
    """Save a seeded random ControlNet fitting the UNet and VAE in ``model_dir``; returns
    ``out_dir`` as a Path."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    model = Path(model_dir)
    unet = UNet2DConditionModel.from_pretrained(model / "unet")
    vae_levels = len(AutoencoderKL.load_config(model / "vae")["block_out_channels"])
    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=EMBED_CHANNELS[:vae_levels]
    )
    zero_convs = [
        *net.controlnet_down_blocks,
        net.controlnet_mid_block,
        net.controlnet_cond_embedding.conv_out,
    ]
    with torch.no_grad():
        for conv in zero_convs:
            conv.reset_parameters()
            conv.weight.mul_(gain)
        net.controlnet_cond_embedding.conv_out.weight.mul_(embed_gain)
    out = Path(out_dir)
    net.save_pretrained(out, safe_serialization=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gain", type=float, default=0.5)
    parser.add_argument("--embed-gain", type=float, default=16.0)
    args = parser.parse_args(argv)
    build_tiny_controlnet(
        args.model_dir, args.out_dir, seed=args.seed, gain=args.gain, embed_gain=args.embed_gain
    )


if __name__ == "__main__":
    main()
