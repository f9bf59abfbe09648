"""Opt-in check on real weights: set ``VIDX_TEST_MODEL`` to a local SD1.5 diffusers folder (and
have a CUDA GPU) to run a short restyle on it; skipped otherwise (nothing is downloaded).

    VIDX_TEST_MODEL=/models/sd15 pytest tests/vidx/restyle/diffusion/test_real_weights.py
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import temporal
from tests.vidx.restyle.diffusion.conftest import restyle_options
from vidx.restyle.diffusion import DiffusionRestyler, load_pipeline

MODEL = os.environ.get("VIDX_TEST_MODEL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL, reason="set VIDX_TEST_MODEL to a local SD1.5 folder"),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="real weights need a CUDA GPU"),
]


@pytest.fixture(scope="module")
def real_pipe():
    if not (Path(MODEL) / "model_index.json").is_file():
        pytest.fail(f"VIDX_TEST_MODEL={MODEL!r} is not a diffusers folder (no model_index.json)")
    return load_pipeline(MODEL, "cuda", "fp16")


def test_short_restyle_on_real_weights_is_sane_and_steadier(real_pipe, clip_tools):
    pan_clip, contexts = clip_tools
    frames = pan_clip(n=6, size=128, step=2)  # restyled at 256 px (SD1.5 is poor below)
    ctxs = contexts(frames)
    base = dict(
        model=MODEL,
        prompt="an oil painting, thick brush strokes",
        negative_prompt="blurry",
        strength=0.5,
        steps=12,
        work_size=256,
        seed=0,
    )
    steady = DiffusionRestyler(restyle_options(**base), pipe=real_pipe)
    outs = [steady(f, c) for f, c in zip(frames, ctxs, strict=True)]
    for out, src in zip(outs, frames, strict=True):
        assert out.shape == (256, 256, 3) and out.dtype == np.uint8
        assert 10 < out.mean() < 245 and out.std() > 10  # a picture, not black / NaN / flat
        small = cv2.resize(out, src.shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - src).mean() > 2  # it restyled something
    off = dict(latent_blend=False, warp_noise=False, cross_frame_attn=False, fusion_weight=0.0)
    plain = DiffusionRestyler(restyle_options(**base, **off, color_anchor=False), pipe=real_pipe)
    per_frame = [plain(f, c) for f, c in zip(frames, ctxs, strict=True)]
    err, ref = temporal.warp_error(frames, outs), temporal.warp_error(frames, per_frame)
    assert err < ref, (err, ref)  # the flow of the source, as `vidx metrics` measures
    assert steady.describe()["unet_calls"] < plain.describe()["unet_calls"]
