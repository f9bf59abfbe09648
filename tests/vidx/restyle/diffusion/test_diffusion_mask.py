"""``--keep``/``--mask`` with the diffusion backend: the kept part's latent stays the source's at
every step (inpaint-style blend), and end to end the kept box follows a pan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tests.conftest import run_cli
from tests.vidx.restyle.diffusion.conftest import restyle_options
from tests.vidx.test_regions import BOX, ENCODE, FEATHER, check_kept_and_restyled, decode, pan_clip
from vidx.options import RestyleOptions
from vidx.regions import box_region
from vidx.restyle.diffusion import DiffusionRestyler
from vidx.restyle.diffusion.denoise import encode_image


def options(model: Path, **kw: object) -> RestyleOptions:
    base: dict = dict(model=str(model), prompt="an oil painting", strength=0.8, steps=6)
    base.update(work_size=64, seed=3, guidance=1.0)
    return restyle_options(**{**base, **kw})


def test_the_kept_latent_is_the_source_and_the_rest_is_restyled(
    tiny_pipe, tiny_model_dir, clip
) -> None:
    frames, ctxs = clip
    region = box_region("16,16,32,24", (64, 64))  # 1 = restyle, 0 in the box
    opts = options(tiny_model_dir)
    plain = DiffusionRestyler(opts, pipe=tiny_pipe)
    masked = DiffusionRestyler(opts, pipe=tiny_pipe)
    f = int(tiny_pipe.vae_scale_factor)  # (2 for the tiny VAE)
    cells = (..., slice(16 // f + 1, 40 // f - 1), slice(16 // f + 1, 48 // f - 1))  # inside
    for frame, ctx in zip(frames[:3], ctxs[:3], strict=True):
        plain(frame, ctx)
        kept = masked(frame, replace(ctx, region=region)).astype(int)
        source = encode_image(tiny_pipe, frame)
        assert masked._engine.prev_latent is not None and plain._engine.prev_latent is not None
        assert torch.allclose(masked._engine.prev_latent[cells], source[cells], atol=1e-5)
        assert (plain._engine.prev_latent[cells] - source[cells]).abs().mean() > 0.1
        far = region > 0
        far[8:48, 8:56] = False  # away from the box the frame is restyled
        assert np.abs(kept[far] - frame[far]).mean() > 10
    assert masked.describe()["frames"] == 3


def test_keep_box_follows_a_pan_with_the_tiny_diffusion_model(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    src = pan_clip(tmp_path / "pan.mp4", frames=8)
    out = tmp_path / "out.mp4"
    keep = ",".join(str(v) for v in BOX)
    result = run_cli(
        "restyle", src, "-o", out, "--prompt", "an oil painting", "--model", tiny_model_dir,
        "--steps", "4", "--strength", "0.9", "--work-size", "64", "--keep", keep,
        "--mask-feather", FEATHER, *ENCODE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    check_kept_and_restyled(decode(out), decode(src))
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["region"]["keep"] == keep and meta["restyle"]["frames"] == 8
