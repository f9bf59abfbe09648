"""x̂0 fusion pieces: strict feathered latent masks, the anchor track, variance-compensated
blending, rewriting the model output, and anchored keyframes in the restyler."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from diffusers import DDIMScheduler

from tests.vidx.restyle.diffusion.conftest import restyle_options
from vidx.frame import FrameContext
from vidx.restyle.diffusion import DiffusionRestyler
from vidx.restyle.diffusion.reuse_mask import latent_mask, remove_specks
from vidx.restyle.diffusion.x0_fusion import (
    AnchorTrack,
    X0Fusion,
    blend_compensated,
    fuse_prediction,
)


def test_one_bad_pixel_marks_its_cell_and_the_mask_is_dilated_and_feathered():
    mask = np.ones((64, 64), bool)
    mask[20, 20] = False  # one pixel of latent cell (2, 2) at 8 px per cell
    like = torch.zeros(1)
    hard, soft = latent_mask(mask, (8, 8), like, dilate=0, feather=0)
    assert hard[0, 0, 2, 2] == 0 and hard.sum() == 63
    hard, soft = latent_mask(mask, (8, 8), like, dilate=1, feather=1.0)
    assert hard[0, 0, 1:4, 1:4].sum() == 0 and hard.sum() == 64 - 9
    assert torch.all(soft <= hard) and 0 < soft[0, 0, 0, 0] < 1 and soft[0, 0, 7, 7] > 0.9


def test_specks_are_removed_but_an_occlusion_strip_is_kept():
    mask = np.ones((64, 64), bool)
    mask[20, 20] = mask[40, 9] = False  # scattered specks
    mask[8:56, 30:33] = False  # a 3 px strip: a disocclusion at 3 px of motion
    clean = remove_specks(mask, 3)
    assert clean[20, 20] and clean[40, 9] and not clean[9:55, 30:33].any()  # corners round
    assert np.array_equal(remove_specks(mask, 1), mask)
    hard, _ = latent_mask(mask, (8, 8), torch.zeros(1), dilate=0, feather=0, open_cells=0.4)
    assert hard[0, 0, 2, 2] == 1 and hard[0, 0, 1:7, 3].sum() == 0


def test_a_moving_object_keeps_its_unreliable_edges_after_the_clean_up():
    """DIS on a real photo with a patch moving 3 px: no pixel the patch uncovers or covers is
    reused, while most of the static background is."""
    import cv2
    from skimage import data

    import temporal

    bg = cv2.resize(data.coffee(), (160, 128))
    fg = cv2.resize(data.astronaut(), (48, 48))

    def scene(x: int) -> np.ndarray:
        f = bg.copy()
        f[40:88, x : x + 48] = fg
        return f

    prev, cur = scene(50), scene(53)
    mask = temporal.consistency_mask(temporal.flow(cur, prev), temporal.flow(prev, cur))
    hard, _ = latent_mask(mask, (16, 20), torch.zeros(1), dilate=0, feather=0, open_cells=0.4)
    cells = cv2.resize(hard[0, 0].numpy(), (160, 128), interpolation=cv2.INTER_NEAREST) > 0.5
    assert not cells[40:88, 50:53].any() and not cells[40:88, 98:101].any()
    assert cells.mean() > 0.8


def test_anchor_track_composes_flows_and_shrinks_where_the_anchor_is_seen():
    anchor = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    track = AnchorTrack()
    track.set(anchor)
    shift = torch.zeros(1, 2, 16, 16)
    shift[:, 0] = 1.0  # each frame: cur[x] = prev[x + 1]
    ones = torch.ones(1, 1, 16, 16)
    for _ in range(3):
        track.advance(shift, ones)
    ref, reliable = track.reference(anchor, shift, ones)
    torch.testing.assert_close(ref[..., :-3], anchor[..., 3:])  # one warp by 3, not 3 warps
    assert track.valid is not None and track.valid[..., -2:].sum() == 0
    assert torch.all(reliable == 1)  # the previous latent fills in where the anchor is not


def test_blend_compensated_keeps_high_frequency_energy():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1, 4, 32, 32, generator=g), torch.randn(1, 4, 32, 32, generator=g)
    m = torch.full((1, 1, 32, 32), 0.5)
    plain = a + m * (b - a)
    comp = blend_compensated(a, b, m)

    def hf(x):
        return float((x - torch.nn.functional.avg_pool2d(x, 3, 1, 1)).pow(2).mean())

    assert hf(plain) < 0.6 * hf(a)
    assert abs(hf(comp) / hf(a) - 1.0) < 0.05


def test_fuse_prediction_moves_x0_to_the_target():
    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    sched.set_timesteps(10)
    t = sched.timesteps[3]
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 4, 8, 8, generator=g)
    eps = torch.randn(1, 4, 8, 8, generator=g) * 0.1
    target = torch.randn(1, 4, 8, 8, generator=g) * 3
    a = float(sched.alphas_cumprod[int(t)]) ** 0.5
    s = (1 - a**2) ** 0.5
    none = X0Fusion(target, torch.zeros(1, 1, 8, 8), 1)
    torch.testing.assert_close(fuse_prediction(sched, x, eps, t, none), eps)
    full = X0Fusion(target, torch.ones(1, 1, 8, 8), 1)
    new = fuse_prediction(sched, x, eps, t, full)
    torch.testing.assert_close((x - s * new) / a, target, atol=1e-4, rtol=1e-4)


def test_periodic_keyframe_is_anchored_and_a_scene_cut_is_not(tiny_pipe, tiny_model_dir, clip):
    frames, ctxs = clip
    opts = restyle_options(
        model=str(tiny_model_dir),
        prompt="an oil painting",
        steps=6,
        guidance=1.0,
        work_size=64,
        seed=3,
        cross_frame_attn=False,
    )
    key = dataclasses.replace(ctxs[2], keyframe=True)
    cut = dataclasses.replace(ctxs[2], keyframe=True, scene_cut=True)
    outs = {}
    for name, c in (("anchored", key), ("cut", cut)):
        r = DiffusionRestyler(opts, pipe=tiny_pipe)
        r(frames[0], ctxs[0])
        r(frames[1], ctxs[1])
        outs[name] = r(frames[2], c)
        info = r.describe()
        assert info["keyframes"] == 2
        assert info["anchored_keyframes"] == (1 if name == "anchored" else 0)
    fresh = DiffusionRestyler(opts, pipe=tiny_pipe)(frames[2], FrameContext(2, frames[2], True))
    assert np.array_equal(outs["cut"], fresh)  # a cut starts over
    assert not np.array_equal(outs["anchored"], fresh)
