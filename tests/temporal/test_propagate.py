"""Pixel-space propagation (``propagate.Propagator``) on synthetic clips with an exact flow.

The "render" stands for a flickering per-frame restyle: new random texture every frame. What the
anchor still sees must be shown as the anchor rendered it, moved with the content; what it does
not see (a disocclusion, a scene cut) must be the render.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from temporal.errors import TemporalError
from temporal.propagate import Propagator, beyond, gain_offset, magnification, soften
from temporal.warp import sample_coords

H, W = 96, 128


def texture(seed: int, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h // 4, w // 4, 3)).astype(np.uint8)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)


def shifted(image: np.ndarray, dx: float) -> np.ndarray:
    """``out[x] = image[x - dx]``: the content moved right by ``dx`` px."""
    h, w = image.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@dataclass
class Ctx:
    """What the propagator reads of a frame's analysis."""

    index: int
    source: np.ndarray
    keyframe: bool = False
    scene_cut: bool = False
    flow: np.ndarray | None = None
    mask: np.ndarray | None = None


def pan_clip(n: int, dx: float, *, fade: float = 0.0, grain: float = 0.0):
    """Frames of a photo-like texture moving right by ``dx`` px a frame, with contexts."""
    scene = texture(0, H, W + 64)
    rng = np.random.default_rng(5)
    frames, ctxs = [], []
    for i in range(n):
        f = shifted(scene, dx * i)[:, 64:].astype(np.float64)  # content enters from the left
        f = f * (1.0 - fade * i / max(n - 1, 1)) + rng.normal(0, grain, f.shape)
        frames.append(np.clip(f, 0, 255).round().astype(np.uint8))
        flow = np.zeros((H, W, 2), np.float32)
        flow[..., 0] = -dx
        ctxs.append(
            Ctx(
                i,
                frames[-1],
                keyframe=i == 0,
                flow=None if i == 0 else flow,
                mask=None if i == 0 else np.ones((H, W), bool),
            )
        )
    return frames, ctxs


def run(frames, ctxs, renders=None, p=None):
    p = p or Propagator()
    renders = renders or [texture(100 + i) for i in range(len(frames))]
    shown = [
        p(r, f, c.flow, c.mask, scene_cut=c.scene_cut, keyframe=c.keyframe)
        for r, f, c in zip(renders, frames, ctxs, strict=True)
    ]
    return p, renders, shown


def interior(x: np.ndarray, margin: int = 12) -> np.ndarray:
    return x[margin:-margin, margin:-margin].astype(np.float64)


def test_what_the_anchor_sees_moves_with_the_content():
    dx = 1.3
    frames, ctxs = pan_clip(8, dx)
    _, renders, shown = run(frames, ctxs)
    assert np.array_equal(shown[0], renders[0])  # the first frame is its own render
    for i in range(1, 8):
        want = shifted(renders[0], dx * i)  # the anchor's output moved with the content
        err = np.abs(interior(shown[i]) - interior(want)).mean()
        assert err < 4.0, (i, err)
        assert np.abs(interior(shown[i]) - interior(renders[i])).mean() > 30  # not the render
    # content entering at the left edge is not seen by the anchor: the render fills it, and
    # what entered a frame earlier is that frame's render moved along (resampled once)
    assert np.abs(shown[7][:, :1].astype(float) - renders[7][:, :1]).mean() < 2.0
    # (each from the frame it entered in: not rendered again)
    strip = (slice(12, -12), slice(3, 10))
    assert np.abs(shown[7][strip].astype(float) - renders[7][strip]).mean() > 30


def test_content_entering_slower_than_a_pixel_a_frame_is_not_stretched_into_streaks():
    """Half a pixel a frame enters at the left edge, so the edge column is half new content
    each frame: a 1 px strip, thinner than a speck, which the previous output held, its edge
    pixel stretched over the column frame after frame as a streak. Its share beyond the edge
    is extrapolated: the render takes it, and what the first frame showed there fades out."""
    frames, ctxs = pan_clip(8, 0.5)
    first, later = texture(100), texture(101)
    _, _, shown = run(frames, ctxs, [first] + [later] * 7)
    edge = np.s_[12:-12, :1]
    assert np.abs(shown[7][edge].astype(float) - first[edge]).mean() > 30  # no streak
    assert np.abs(shown[7][edge].astype(float) - later[edge]).mean() < 3.0


def test_the_share_of_a_sample_beyond_the_edge():
    xs, ys = np.meshgrid(np.arange(4, dtype=np.float32), np.arange(3, dtype=np.float32))
    xs[0, 0], ys[0, 0] = -0.5, -0.5  # out both ways: 1 - 0.5 * 0.5
    xs[1, 3] += 0.25  # a quarter of a pixel past the right edge
    xs[2, 0] -= 2.0  # wholly outside
    xs[1, 1] += 0.4  # inside
    want = np.zeros((3, 4), np.float32)
    want[0, 0], want[1, 3], want[2, 0] = 0.75, 0.25, 1.0
    assert np.allclose(beyond((xs, ys)), want)


def sliding_patch(n: int, step: int):
    """A patch moving right ``step`` px a frame over a still background, with its contexts:
    the analysis marks the patch and its boundary unreliable."""
    bg, patch = texture(1), texture(2, 32, 32)
    frames, ctxs = [], []
    for i in range(n):
        f = bg.copy()
        f[32:64, 20 + step * i : 52 + step * i] = patch
        frames.append(f)
        flow = np.zeros((H, W, 2), np.float32)
        mask = np.ones((H, W), bool)
        if i:
            flow[32:64, 20 + step * i : 52 + step * i, 0] = -step
            mask[30:66, 16 + step * i : 56 + step * i] = False
        ctxs.append(Ctx(i, f, keyframe=i == 0, flow=flow if i else None, mask=mask if i else None))
    return frames, ctxs


def test_a_disocclusion_is_rendered_not_smeared():
    """A patch moves 4 px a frame over a still background: background it uncovers only now
    was never seen (by the anchor or the previous frame), so it comes from the render; what
    the previous frame uncovered is kept from there."""
    frames, ctxs = sliding_patch(4, 4)
    p, renders, shown = run(frames, ctxs)
    new = (slice(36, 60), slice(29, 32))  # under the patch until frame 2
    assert np.abs(shown[3][new].astype(float) - renders[3][new]).mean() < 3.0
    seen = (slice(36, 60), slice(20, 22))  # uncovered at frame 1: kept from then on
    assert np.abs(shown[3][seen].astype(float) - renders[3][seen]).mean() > 30
    still = (slice(4, 24), slice(70, 120))  # background seen all along: the anchor's output
    assert np.abs(shown[3][still].astype(float) - renders[0][still]).mean() < 3.0
    # which layer showed each pixel of the last frame: the weights share every pixel out
    by = p.shown_by
    assert np.allclose(sum(by.values()), 1.0, atol=1e-5)
    assert by["render"][new].mean() > 0.95
    assert by["patch"][seen].mean() > 0.95  # frame 1's own render, carried as its patch
    assert by["anchor"][still].mean() > 0.95


def test_the_feather_sets_how_far_a_layer_mixes_with_what_is_rendered_beside_it():
    """Slow motion uncovers a strip 1-3 px wide a frame; the layer beside it ramps in over its
    feather, and there its picture is mixed with the render, two textures that do not match:
    a wide feather spends the detail of a thin region on that mix."""
    frames, ctxs = sliding_patch(4, 2)
    for feather, mixed in ((1.5, True), (0.5, False)):
        p, renders, shown = run(frames, ctxs, p=Propagator(feather=feather))
        held = p.shown_by["anchor"] > 0
        inside = cv2.distanceTransform(held.astype(np.uint8), cv2.DIST_L2, 3)
        rim = held & (inside >= 1.5) & (inside < 2.5)  # the second pixel in
        rim[:36], rim[60:], rim[:, :26] = False, False, False  # the patch's own left side,
        # beside the strip it uncovers: the anchor shows the first render there, moved 6 px
        off = np.abs(shown[3][rim].astype(float) - np.roll(renders[0], 6, axis=1)[rim]).mean()
        assert (off > 5.0) if mixed else (off < 1.0), (feather, off)
    with pytest.raises(TemporalError):
        Propagator(feather=-1.0)


def test_a_fade_carries_over_to_the_propagated_output():
    frames, ctxs = pan_clip(8, 1.0, fade=0.3)
    renders = [texture(100)] * 8  # a render that ignores the fade
    _, _, shown = run(frames, ctxs, renders)
    src = np.array([f.mean() for f in frames])
    out = np.array([s.mean() for s in shown])
    assert np.abs(np.diff(out) / np.diff(src) - out[0] / src[0]).max() < 0.15
    assert out[-1] / out[0] == pytest.approx(src[-1] / src[0], abs=0.03)


def test_grain_does_not_disqualify_the_anchor():
    frames, ctxs = pan_clip(6, 0.7, grain=6.0)
    p, _, _ = run(frames, ctxs)
    assert p.coverage > 0.85


def test_a_scene_cut_starts_over():
    frames, ctxs = pan_clip(4, 1.0)
    cut = Ctx(4, texture(9), keyframe=True, scene_cut=True)
    p, renders, shown = run(frames + [cut.source], ctxs + [cut])
    assert np.array_equal(shown[4], renders[4])
    assert len(p.anchors) == 1 and p.coverage == 0.0


def test_keyframes_become_anchors_and_the_oldest_that_sees_a_pixel_wins():
    frames, ctxs = pan_clip(6, 1.0)
    ctxs[3] = Ctx(3, frames[3], keyframe=True, flow=ctxs[3].flow, mask=ctxs[3].mask)
    p, renders, shown = run(frames, ctxs)
    assert len(p.anchors) == 2
    want = shifted(renders[0], 5.0)  # still frame 0's output, resampled once
    assert np.abs(interior(shown[5]) - interior(want)).mean() < 4.0


def test_gain_offset_recovers_a_fade():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3)).astype(np.float32)
    gain, offset = gain_offset(x, 0.7 * x + 5, np.ones((32, 32), bool))
    assert np.allclose(gain, 0.7, atol=1e-3) and np.allclose(offset, 5, atol=0.5)


def test_a_figure_crossing_a_still_shot_leaves_the_background_as_it_was():
    """A dark figure (6 % of the frame) enters a still shot and walks across it: the frame's
    statistics change, the background's do not. The brightness match must be the
    background's, so the held background keeps frame 0's output (fitted on the whole frame,
    it shifted by 25 levels on average)."""
    still = (120 + texture(0).astype(np.float64) * 0.5).astype(np.uint8)
    frames, ctxs = [], []
    for i in range(6):
        f = still.copy()
        if i > 0:
            f[24:72, 20 * i : 20 * i + 8] = 0  # the figure, moving right
        frames.append(f)
        flow = None if i == 0 else np.zeros((H, W, 2), np.float32)
        ctxs.append(Ctx(i, f, keyframe=i == 0, flow=flow))
    _, renders, shown = run(frames, ctxs)
    away = np.ones((H, W), bool)
    away[14:82, :] = False  # rows the figure never reaches (nor its feathered edge)
    for i in range(1, 6):
        diff = np.abs(shown[i][away].astype(np.float64) - renders[0][away])
        assert diff.max() <= 1.0, (i, diff.max(), diff.mean())


def test_the_still_background_is_held_up_to_a_moving_figure():
    """A dark figure walks across a still shot: the background beside it is the anchor's right
    up to the figure's edge, not a band of the render that moves with the figure (shrunk by
    2 px, every layer left such a band, at a new place each frame); a strip too narrow to
    trust is still dropped (``soften``)."""
    still = (120 + texture(0).astype(np.float64) * 0.5).astype(np.uint8)
    frames, ctxs = [], []
    for i in range(4):
        f = still.copy()
        mask = np.ones((H, W), bool)
        if i > 0:
            f[24:72, 20 * i : 20 * i + 8] = 0
            mask[24:72, 20 * i - 20 : 20 * i + 8] = False  # where it is and was: unreliable
        frames.append(f)
        flow = None if i == 0 else np.zeros((H, W, 2), np.float32)
        ctxs.append(Ctx(i, f, keyframe=i == 0, flow=flow, mask=None if i == 0 else mask))
    p, _, _ = run(frames, ctxs)
    # 3-4 px either side of the figure (60-67; 2 px off, its blurred luma still fails the
    # source check): the anchor's, feathered inward, not shrunk away (0 with a 2 px shrink)
    beside = (slice(30, 66), np.r_[56:58, 70:72])
    assert p.shown_by["render"][beside].mean() < 0.4
    held = p.shown_by["anchor"] + p.shown_by["previous"]
    assert held[beside].mean() > 0.6
    ok = np.zeros((H, W), bool)
    ok[:, :60] = True
    ok[40:43, 60:100] = True  # a 3 px strip off the held region
    weight = soften(ok)
    assert weight[40:43, 70:100].max() == 0.0  # the strip is dropped
    assert weight[:, 59].min() > 0.4  # the held region's edge stays where it was


def test_a_chance_match_of_brightness_in_another_colour_is_rendered():
    """Where the frame's colours change but its brightness does not (a red coat over grey
    asphalt of the same luma), the anchor's source still matches in luma: the colour check
    leaves that region to the render."""
    luma0 = 80 + 0.35 * cv2.cvtColor(texture(3), cv2.COLOR_RGB2GRAY)  # room for the colours
    grey = np.repeat(luma0.astype(np.uint8)[:, :, None], 3, axis=2)
    recoloured = grey.astype(np.float64)
    a, b = 60.0, -60.0  # R up, B down, G so that the luma stays
    recoloured[..., 0] += a
    recoloured[..., 2] += b
    recoloured[..., 1] -= (0.299 * a + 0.114 * b) / 0.587
    f1 = grey.copy()
    region = (slice(24, 72), slice(40, 88))
    f1[region] = np.clip(recoloured, 0, 255).round().astype(np.uint8)[region]
    luma = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(float) for f in (grey, f1)]
    assert np.abs(luma[1] - luma[0])[region].max() <= 1  # the same brightness
    still = np.zeros((H, W, 2), np.float32)
    ctxs = [Ctx(0, grey, keyframe=True), Ctx(1, f1, flow=still)]
    p, _, _ = run([grey, f1], ctxs)
    inner = (slice(28, 68), slice(44, 84))
    assert p.shown_by["render"][inner].mean() > 0.95
    held = p.shown_by["anchor"] + p.shown_by["previous"]  # frame 0's output, both
    assert held[4:20, :].mean() > 0.95  # the rest is held


def test_the_background_a_walker_uncovers_is_the_anchor_again():
    """A figure enters a still shot at frame 1 and walks right 4 px a frame (exact flow: the
    figure's pixels move, the trailing edge it uncovers is unreliable). The anchor's flow,
    composed through the figure, follows it; once the figure has passed, the background it
    uncovered must be frame 0's output again (it was the render or a patch)."""
    still, figure = texture(0), texture(9)
    frames, ctxs = [], []
    for i in range(9):
        f = still.copy()
        if i > 0:
            x = 16 + 4 * i
            f[40:56, x : x + 16] = figure[40:56, x : x + 16]
        flow = mask = None
        if i > 0:
            flow = np.zeros((H, W, 2), np.float32)
            mask = np.ones((H, W), bool)
            if i == 1:
                mask[40:56, 20:36] = False  # it appears: no earlier frame shows it
            else:
                flow[40:56, 16 + 4 * i : 32 + 4 * i, 0] = -4.0  # from here to the last frame
                mask[40:56, 12 + 4 * i : 16 + 4 * i] = False  # uncovered: not seen before
        frames.append(f)
        ctxs.append(Ctx(i, f, keyframe=i == 0, flow=flow, mask=mask))
    _, renders, shown = run(frames, ctxs)
    passed = np.s_[42:54, 24:38]  # covered on frames 1-5, background again since frame 6
    diff = np.abs(shown[8][passed].astype(np.float64) - renders[0][passed])
    assert diff.mean() < 2.0, diff.mean()
    # without mending (the steady upscalers) the composed flow still follows the figure there
    p = Propagator(mend=False)
    for r, f, c in zip(renders, frames, ctxs, strict=True):
        last = p(r, f, c.flow, c.mask, keyframe=c.keyframe)
    assert np.abs(last[passed].astype(np.float64) - renders[0][passed]).mean() > 10.0


def test_a_filled_frame_is_rendered_by_the_next_rendered_one():
    """``fill``: a frame shown without a render. Content entering at the left edge is filled
    from the previous output, marked stale, and the next rendered frame renders it (and keeps
    it as its patch) instead of carrying the fill along."""
    dx = 2.0
    frames, ctxs = pan_clip(6, dx)
    p = Propagator()
    renders = [texture(100 + i) for i in range(6)]
    shown = [p(renders[0], frames[0], None, keyframe=True)]
    for i in (1, 2):  # two frames filled in
        step = p.prepare(frames[i], ctxs[i].flow, ctxs[i].mask)
        assert step.covered == pytest.approx(1.0 - i * dx / W, abs=0.005)  # what entered
        shown.append(p.fill(step))
        assert p.coverage == 1.0
        assert p.shown_by["filler"][12:-12, : 2 * i].min() > 0.99  # what entered: filled in
    step = p.prepare(frames[3], ctxs[3].flow, ctxs[3].mask)
    assert step.remaining is not None
    # the 2 px entering now and the 4 px filled before are left to the render (not carried)
    assert step.remaining[12:-12, :5].min() > 0.99
    assert step.remaining[12:-12, 12:-12].max() < 0.01
    shown.append(p.show(step, renders[3], keyframe=False))
    assert np.abs(shown[3][12:-12, :5].astype(float) - renders[3][12:-12, :5]).mean() < 2.0
    # from here on that strip is the frame 3 render carried along, not rendered again
    shown.append(p(renders[4], frames[4], ctxs[4].flow, ctxs[4].mask, keyframe=False))
    carried = shifted(shown[3], dx)[12:-12, 3:7].astype(float)
    assert np.abs(shown[4][12:-12, 3:7] - carried).mean() < 4.0
    # what the keyframe sees is its render moved along in every frame, filled or not
    for i, s in enumerate(shown):
        want = shifted(renders[0], dx * i)
        assert np.abs(interior(s) - interior(want)).mean() < 4.0, i


def blended(frames, ctxs, renders, weight):
    p = Propagator(anchors=False)
    shown = []
    for r, f, c in zip(renders, frames, ctxs, strict=True):
        shown.append(p.blend(p.prepare(f, c.flow, c.mask, c.scene_cut), r, weight))
    return p, shown


def test_blend_follows_the_render_and_fades_what_the_flow_carries():
    """``blend`` (the style backend's mode): on a still scene each frame is ``w`` of the one
    before and ``1 - w`` of its render, so older renders fade as ``w ** k``; nothing is held as
    an anchor or a patch."""
    frame = texture(0)
    flow = np.zeros((H, W, 2), np.float32)
    ctxs = [Ctx(0, frame)] + [Ctx(i, frame, flow=flow) for i in range(1, 4)]
    renders = [np.full((H, W, 3), v, np.uint8) for v in (200, 0, 0, 0)]
    p, shown = blended([frame] * 4, ctxs, renders, 0.5)
    assert np.array_equal(shown[0], renders[0])  # a fresh start is its render
    for i, want in enumerate((100, 50, 25), start=1):
        assert np.abs(interior(shown[i]) - want).max() <= 1, i
    assert p.anchors == [] and p.patches == []
    _, zero = blended([frame] * 4, ctxs, renders, 0.0)
    assert all(np.array_equal(a, b) for a, b in zip(zero, renders, strict=True))


def test_blend_carries_along_the_flow_where_the_flow_is_reliable():
    """The previous output moves with the content; where the source changed but the flow is
    reliable it is still blended in; where the flow is unreliable and the source changed,
    the render shows."""
    dx = 2.0
    frames, ctxs = pan_clip(2, dx)
    renders = [texture(100), np.zeros((H, W, 3), np.uint8)]
    _, shown = blended(frames, ctxs, renders, 1.0)
    want = shifted(renders[0], dx)
    assert np.abs(interior(shown[1]) - interior(want)).mean() < 4.0
    changed = frames[1].copy()
    changed[40:60, 50:80] = 255 - changed[40:60, 50:80]  # the source changed there
    for reliable, level in ((True, 30), (False, 2)):
        mask = np.ones((H, W), bool)
        mask[40:60, 50:80] = reliable
        ctx = Ctx(1, changed, flow=ctxs[1].flow, mask=mask)
        _, shown = blended([frames[0], changed], [ctxs[0], ctx], renders, 1.0)
        inside = shown[1][44:56, 54:76].astype(np.float64)
        assert (inside.mean() > level) if reliable else (inside.mean() < level), reliable


def test_blend_checks_its_inputs():
    frames, ctxs = pan_clip(2, 1.0)
    p = Propagator(anchors=False)
    p.blend(p.prepare(frames[0], None), frames[0], 0.5)
    step = p.prepare(frames[1], ctxs[1].flow)
    with pytest.raises(ValueError, match="weight"):
        p.blend(step, frames[1], 1.5)
    with pytest.raises(ValueError, match="render must have shape"):
        p.blend(step, frames[1][:32], 0.5)


def test_with_a_detail_check_a_source_that_gained_detail_is_not_held():
    """Motion blur that lifts: the left half sharpens, the right half stays. The pair's own
    noise floor (half the frame changed) lets the blurred layer through on the luma check
    alone; the detail check leaves the sharpened half to the render."""
    scene = texture(0)
    before = scene.copy()
    before[:, : W // 2] = cv2.GaussianBlur(scene, (0, 0), 2.5)[:, : W // 2]
    flow, mask = np.zeros((H, W, 2), np.float32), np.ones((H, W), bool)
    left, right = np.s_[8:-8, 8 : W // 2 - 8], np.s_[8:-8, W // 2 + 8 : -8]
    for detail, held_left in ((None, True), (0.4, False)):
        p = Propagator(detail=detail)
        p(texture(100), before, None, keyframe=True)
        step = p.prepare(scene, flow, mask)
        assert step.remaining is not None
        assert step.remaining[right].max() < 0.05  # unchanged: held either way
        if held_left:
            assert step.remaining[left].max() < 0.05 and step.gained is None
        else:
            assert step.remaining[left].min() > 0.95
            assert step.gained is not None and step.gained[left].mean() > 0.9
            assert not step.gained[right].any()


def test_a_static_source_passes_the_detail_check():
    frames, ctxs = pan_clip(4, 0.0, grain=2.0)
    p = Propagator(detail=0.4)
    for r, f, c in zip([texture(100 + i) for i in range(4)], frames, ctxs, strict=True):
        step = p.prepare(f, c.flow, c.mask)
        p.show(step, r, keyframe=c.keyframe)
    assert step.remaining is not None and interior(step.remaining).max() < 0.05


def test_the_detail_check_must_not_be_negative():
    with pytest.raises(TemporalError):
        Propagator(detail=-0.1)


def test_magnification_is_how_far_a_layer_is_stretched():
    h, w = 40, 60
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.5, -1.25  # a shift
    assert np.allclose(magnification(sample_coords(flow)), 1.0, atol=1e-4)
    xs = np.arange(w, dtype=np.float32)[None, :]
    flow[..., 0], flow[..., 1] = 10.0 - xs / 2, 0.0  # one source pixel spans two across
    assert np.allclose(magnification(sample_coords(flow))[:, 1:-1], 2.0, atol=1e-4)


def test_a_layer_stretched_past_max_stretch_is_rendered_not_smeared():
    """The right half of the frame shows the keyframe's source magnified 3x across (a subject
    turning toward the camera, say): the source matches there, but the keyframe's output
    stretched 3x would show its texture as streaks, so the render shows it instead; the left
    half (a shift) is the anchor's."""
    src = texture(7)
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 2.0
    xs = np.arange(W, dtype=np.float32)[None, :]
    right = xs >= W // 2
    flow[..., 0] = np.where(right, (W // 2 + 2) + (xs - W // 2) / 3.0 - xs, 2.0)
    cur = cv2.remap(src, *sample_coords(flow), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    key, render = texture(50), texture(51)
    mask = np.ones((H, W), bool)
    for stretch in (2.0, None):
        p = Propagator(max_stretch=stretch)
        p(key, src, None, keyframe=True)
        shown = p(render, cur, flow, mask, keyframe=False)
        far = (slice(12, -12), slice(W // 2 + 8, W - 12))
        near = (slice(12, -12), slice(12, W // 2 - 8))
        assert np.abs(shown[near].astype(float) - render[near]).mean() > 20  # the anchor's
        off = np.abs(shown[far].astype(float) - render[far]).mean()
        assert (off < 2.0) if stretch else (off > 20), (stretch, off)
