"""Tiled diffusion refine after an upscaler: sizes, seam-free weights, reuse across frames."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from tests.vidx.restyle.diffusion.conftest import restyle_options
from vidx.frame import FrameContext
from vidx.restyle.diffusion import DiffusionRefiner, RefineUpscaler
from vidx.restyle.diffusion.refine import feather, tile_starts


class Bicubic:
    name = "bicubic"

    def __call__(self, image, size, ctx=None):
        return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)

    def describe(self) -> dict:
        return {"name": self.name}


def refiner(pipe, model, **kw) -> DiffusionRefiner:
    opts = restyle_options(
        model=str(model), prompt="detailed", steps=8, guidance=1.0, work_size=64, seed=1
    )
    return DiffusionRefiner(opts, pipe=pipe, strength=0.5, reuse_strength=0.25, **kw)


def test_tiles_cover_everything_with_overlap():
    assert tile_starts(32, 32, 8) == [0]
    assert tile_starts(20, 32, 8) == [0]
    starts = tile_starts(90, 32, 8)
    assert starts[0] == 0 and starts[-1] == 58
    assert all(b - a <= 24 for a, b in zip(starts, starts[1:], strict=False))
    w = feather(32, 32, 8, torch.device("cpu"))
    assert w.shape == (1, 1, 32, 32) and float(w.min()) > 0 and float(w.max()) == 1.0


def test_refine_upscaler_returns_the_asked_size(tiny_pipe, tiny_model_dir, clip_tools):
    pan_clip, _ = clip_tools
    frame = pan_clip(1, size=48)[0]
    up = RefineUpscaler(Bicubic(), refiner(tiny_pipe, tiny_model_dir, tile=64, overlap=0.25))
    out = up(frame, (100, 76), FrameContext(0, frame, keyframe=True))
    assert out.shape == (76, 100, 3) and out.dtype == np.uint8
    info = up.describe()
    assert info["name"] == "bicubic+refine"
    # 100x76 pads to 112x80 pixels = a 56x40 latent: 2x2 tiles of 32 (overlap 8), 4 steps each
    assert info["refine"]["unet_calls"] == 4 * 4


def test_refine_reuses_the_previous_frame(tiny_pipe, tiny_model_dir, clip_tools):
    pan_clip, contexts = clip_tools
    frames = pan_clip(2, size=64)
    ctxs = contexts(frames)
    r = refiner(tiny_pipe, tiny_model_dir, tile=64)
    first = r(frames[0], ctxs[0])
    calls = r.unet_calls
    second = r(frames[1], ctxs[1])
    assert first.shape == second.shape == (64, 64, 3)
    assert r.unet_calls - calls == 2  # reuse strength 0.25 of 8 steps, a single tile
    # a keyframe starts over: same result as a fresh refiner on that frame
    again = r(frames[1], FrameContext(1, frames[1], keyframe=True))
    fresh = refiner(tiny_pipe, tiny_model_dir, tile=64)(frames[1], None)
    assert np.array_equal(again, fresh)
