"""Build a random LoRA and a random IP-Adapter for a model made by make_tiny_model.py.

Usage: ``python scripts/make_tiny_adapters.py MODEL_DIR OUT_DIR [--seed 0] [--scale 1.0]``
writes ``OUT_DIR/lora.safetensors`` and ``OUT_DIR/ip-adapter.safetensors`` with
``OUT_DIR/image_encoder/`` (nothing is downloaded).

- LoRA: peft's ``LoraConfig`` on the UNet's attention projections with ``init_lora_weights=
  False`` (both matrices random, so the LoRA changes the output), saved with diffusers'
  ``save_lora_weights`` (the kohya-free diffusers/peft layout ``load_lora_weights`` reads).
- IP-Adapter: a tiny random ``CLIPVisionModelWithProjection`` (``save_pretrained``) and, in
  the layout diffusers' ``load_ip_adapter`` reads from a ``.safetensors`` file,
  ``image_proj.proj.*``/``image_proj.norm.*`` (an ``ImageProjection`` of 4 tokens) and
  ``ip_adapter.{1,3,5...}.to_k_ip/to_v_ip.weight`` for each cross-attention layer in the
  UNet's processor order.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def build_tiny_lora(
    model_dir: str | Path, out_file: str | Path, *, seed: int = 0, rank: int = 4, scale: float = 1.0
) -> Path:
    """A random rank-``rank`` UNet LoRA for the model in ``model_dir``, saved as ``out_file``;
    ``scale`` multiplies the up matrices (how far the LoRA moves the output)."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    out = Path(out_file)
    unet = UNet2DConditionModel.from_pretrained(Path(model_dir) / "unet")
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        init_lora_weights=False,
    )
    unet.add_adapter(config)
    state = get_peft_model_state_dict(unet)
    state = {k: (v * scale if "lora_B" in k else v).contiguous() for k, v in state.items()}
    StableDiffusionPipeline.save_lora_weights(
        out.parent,
        unet_lora_layers=convert_state_dict_to_diffusers(state),
        weight_name=out.name,
        safe_serialization=True,
    )
    return out


def build_tiny_ip_adapter(model_dir: str | Path, out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random IP-Adapter for the UNet in ``model_dir``: returns ``out_dir/ip-adapter.
    safetensors`` (its ``image_encoder/`` beside it)."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unet = UNet2DConditionModel.from_pretrained(Path(model_dir) / "unet")
    cross = unet.config.cross_attention_dim
    torch.manual_seed(seed)
    vision = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        )
    )
    vision.save_pretrained(out / "image_encoder", safe_serialization=True)
    g = torch.Generator().manual_seed(seed)
    state = {
        "image_proj.proj.weight": torch.randn(4 * cross, 32, generator=g) * 0.2,
        "image_proj.proj.bias": torch.zeros(4 * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        attn = unet.get_submodule(name.removesuffix(".processor"))
        hidden = attn.to_k.out_features
        for proj in ("to_k_ip", "to_v_ip"):
            w = torch.randn(hidden, cross, generator=g) * cross**-0.5
            state[f"ip_adapter.{key_id}.{proj}.weight"] = w
        key_id += 2
    path = out / "ip-adapter.safetensors"
    save_file(state, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(
        build_tiny_lora(args.model_dir, out / "lora.safetensors", seed=args.seed, scale=args.scale)
    )
    print(build_tiny_ip_adapter(args.model_dir, out, seed=args.seed))


if __name__ == "__main__":
    main()
