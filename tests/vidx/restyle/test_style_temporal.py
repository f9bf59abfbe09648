"""The style backend over time: flow-guided reuse lowers warping error, cuts start fresh."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from skimage import data

import temporal
from vidx.frame import FrameContext
from vidx.restyle.style import StyleRestyler


def pan(photo: np.ndarray, n: int, size=(128, 96), step=(2.5, 1.0)) -> list[np.ndarray]:
    """``n`` frames of a window of ``size`` (w, h) moving ``step`` px per frame over ``photo``."""
    big = cv2.resize(photo, (size[0] + 48, size[1] + 32), interpolation=cv2.INTER_AREA)
    frames = []
    for t in range(n):
        m = np.float32([[1, 0, -4 - step[0] * t], [0, 1, -4 - step[1] * t]])
        frames.append(cv2.warpAffine(big, m, size, flags=cv2.INTER_LINEAR))
    return frames


def contexts(frames: list[np.ndarray], cuts: frozenset[int] = frozenset()) -> list[FrameContext]:
    """What the pipeline's analysis gives: flow cur -> prev and its consistency mask."""
    out = [FrameContext(0, frames[0], keyframe=True)]
    for t in range(1, len(frames)):
        if t in cuts:
            out.append(FrameContext(t, frames[t], keyframe=True, scene_cut=True))
            continue
        back = temporal.flow(frames[t], frames[t - 1])
        fwd = temporal.flow(frames[t - 1], frames[t])
        mask = temporal.consistency_mask(back, fwd)
        out.append(FrameContext(t, frames[t], keyframe=False, flow=back, mask=mask))
    return out


def run(restyler: StyleRestyler, ctxs: list[FrameContext]) -> list[np.ndarray]:
    restyler.reset()
    return [restyler(c.source, c) for c in ctxs]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[FrameContext]]:
    frames = pan(data.astronaut(), 12)
    return frames, contexts(frames)


@pytest.mark.parametrize("style", ["0", "12"])
def test_temporal_lowers_warping_error_and_stays_close(clip, style):
    frames, ctxs = clip
    per_frame = run(StyleRestyler(style, temporal=False), ctxs)
    steady = run(StyleRestyler(style), ctxs)
    e_plain = temporal.warp_error(frames, per_frame)
    e_steady = temporal.warp_error(frames, steady)
    assert e_steady < 0.6 * e_plain, (e_steady, e_plain)
    # fidelity over the reused frames only (frame 0 is identical by construction)
    assert np.mean([psnr(a, b) for a, b in zip(steady[1:], per_frame[1:], strict=True)]) > 22.0
    assert np.array_equal(steady[0], per_frame[0])


def test_style_image_temporal(clip, tmp_path):
    from PIL import Image

    path = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(path)
    frames, ctxs = clip[0][:6], clip[1][:6]  # the 384 px arbitrary net is the slow one
    per_frame = run(StyleRestyler(style_image=path, temporal=False), ctxs)
    steady = run(StyleRestyler(style_image=path), ctxs)
    assert temporal.warp_error(frames, steady) < temporal.warp_error(frames, per_frame)


def test_hard_cut_takes_the_fresh_result():
    a, b = pan(data.astronaut(), 5), pan(data.coffee(), 5)
    frames = a + b
    ctxs = contexts(frames, cuts=frozenset({5}))
    per_frame = run(StyleRestyler("7", temporal=False), ctxs)
    steady = run(StyleRestyler("7", temporal_weight=0.9), ctxs)
    assert np.array_equal(steady[5], per_frame[5])
    assert not np.array_equal(steady[6], per_frame[6])  # reuse resumes after the cut
    assert psnr(steady[6], per_frame[6]) > 22.0


def test_a_periodic_keyframe_with_a_flow_goes_on_blending(clip):
    """Only a cut (or a frame without a flow) starts over: a fresh frame at a periodic keyframe
    would pop, and the blend cannot drift (old content fades by the weight each frame)."""
    frames, ctxs = clip
    keyed = [replace(c, keyframe=True) if c.index == 6 else c for c in ctxs]
    per_frame = run(StyleRestyler("3", temporal=False), keyed)
    steady = run(StyleRestyler("3"), keyed)
    assert not np.array_equal(steady[6], per_frame[6])
    pair = temporal.warp_error(frames[5:7], steady[5:7])
    assert pair < 0.6 * temporal.warp_error(frames[5:7], per_frame[5:7])


def test_weight_zero_and_strength_mix_keep_per_frame_semantics(clip):
    frames, ctxs = clip
    per_frame = run(StyleRestyler("5", temporal=False), ctxs)
    zero = run(StyleRestyler("5", temporal_weight=0), ctxs)
    assert all(np.array_equal(x, y) for x, y in zip(zero, per_frame, strict=True))
    half = run(StyleRestyler("5", strength=0.5), ctxs)
    assert temporal.warp_error(frames, half) < temporal.warp_error(
        frames, run(StyleRestyler("5", strength=0.5, temporal=False), ctxs)
    )


def test_flow_at_a_smaller_analysis_size_is_resized(clip):
    frames, _ = clip
    small = [cv2.resize(f, (64, 48), interpolation=cv2.INTER_AREA) for f in frames]
    ctxs = [
        FrameContext(c.index, f, c.keyframe, flow=c.flow, mask=c.mask)
        for c, f in zip(contexts(small), frames, strict=True)
    ]
    assert ctxs[1].flow.shape == (48, 64, 2)
    per_frame = run(StyleRestyler("0", temporal=False), ctxs)
    steady = run(StyleRestyler("0"), ctxs)
    assert steady[1].shape == frames[1].shape
    assert temporal.warp_error(frames, steady) < 0.6 * temporal.warp_error(frames, per_frame)
