"""Issue 26, item 2: what the pixel propagation does not hold is rendered at full strength,
from the frame's own latent, and only there (``crops``; tiny random model, exact flow)."""

from __future__ import annotations

import numpy as np
import torch

from scripts.subject_clip import subject_clip
from tests.vidx.restyle.diffusion.conftest import run_clip, tiny_options
from vidx.frame import FrameContext
from vidx.restyle.diffusion.crops import (
    CALL_CELLS,
    TILE_CELLS,
    batch_boxes,
    box_share,
    cut_plan,
    fresh_boxes,
    paste_image,
    stack_plans,
)
from vidx.restyle.diffusion.engine import FramePlan
from vidx.restyle.diffusion.reuse_mask import held_cells
from vidx.restyle.diffusion.x0_fusion import X0Fusion


def held_map(h: int, w: int, fresh: list[tuple[int, int, int, int]]) -> torch.Tensor:
    m = torch.ones(1, 1, h, w)
    for y0, y1, x0, x1 in fresh:
        m[:, :, y0:y1, x0:x1] = 0
    return m


def covered(boxes, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), int)
    for y0, y1, x0, x1 in boxes:
        m[y0:y1, x0:x1] += 1
    return m


def test_boxes_hold_every_fresh_cell_with_context_in_whole_tiles():
    # two fresh specks far apart: two boxes of whole tiles, each with context around its speck
    boxes = fresh_boxes(held_map(40, 60, [(5, 6, 5, 6), (30, 32, 50, 52)]), cell=8)
    assert len(boxes) == 2
    m = covered(boxes, 40, 60)
    assert m.max() == 1  # disjoint
    assert m[3:8, 3:8].all() and m[28:34, 48:54].all()  # 16 px = 2 cells of context
    assert all((y0 % TILE_CELLS, x0 % TILE_CELLS) == (0, 0) for y0, _, x0, _ in boxes)
    assert box_share(boxes, (40, 60)) == m.sum() / (40 * 60)
    # a ring along the frame's edges (a zoom): strips, far less than the whole frame
    ring = torch.ones(1, 1, 40, 60)
    ring[:, :, 1:-1, 1:-1] = 0  # held inside...
    ring = 1 - ring  # ...fresh only at the border
    ring_boxes = fresh_boxes(ring, cell=8)
    assert covered(ring_boxes, 40, 60)[0].all() and covered(ring_boxes, 40, 60)[:, -1].all()
    assert box_share(ring_boxes, (40, 60)) < 0.5
    assert covered(ring_boxes, 40, 60).max() == 1
    assert fresh_boxes(held_map(40, 60, []), cell=8) == []


def test_held_cells_from_the_layers_remaining_weight():
    remaining = np.zeros((64, 80), np.float32)
    remaining[19:25, 40:44] = 1.0  # a small region of new content
    remaining[50, 10] = remaining[5:40, 70] = 1.0  # a speck and a 1 px line: rounding's work
    held = held_cells(remaining, (8, 10), torch.zeros(1), dilate=1)
    assert held.shape == (1, 1, 8, 10)
    fresh = held[0, 0] < 0.5
    assert fresh[2:4, 5].all() and fresh[1:5, 4:7].all()  # its cells, grown by one cell
    assert int(fresh.sum()) == 12  # the speck and the line count for nothing


def test_a_plan_cut_to_a_box_cuts_every_tensor():
    z = torch.randn(1, 4, 16, 20)
    plan = FramePlan(z, z + 1, torch.tensor([500, 250]), True, False, reference=z + 2)
    plan.x0_fusion = X0Fusion(z + 2, torch.ones(1, 1, 16, 20), 1)
    part = cut_plan(plan, (2, 10, 4, 12))
    assert part.z_start.shape == (1, 4, 8, 8)
    assert torch.equal(part.noise, (z + 1)[:, :, 2:10, 4:12])
    assert part.x0_fusion is not None and part.x0_fusion.mask.shape == (1, 1, 8, 8)
    assert torch.equal(part.timesteps, plan.timesteps) and part.reuse
    image = np.zeros((64, 80, 3), np.uint8)
    paste_image(image, np.full((32, 32, 3), 7, np.uint8), (2, 10, 4, 12), cell=4)
    assert (image[8:40, 16:48] == 7).all() and image.sum() == 7 * 32 * 32 * 3


def test_small_boxes_share_a_call_and_a_large_one_keeps_its_own():
    """A UNet call costs ``CALL_CELLS`` besides its cells: small boxes are grown to one size
    (inside the frame, each inside its render) and share a call; a box much larger than the
    others would make them pay its size, so it keeps a call of its own."""
    small = [(0, 4, 0, 4), (8, 12, 20, 28), (28, 32, 36, 40)]
    large = (4, 28, 4, 36)
    groups = batch_boxes([large, *small], (32, 40))
    assert sorted(len(g) for g in groups) == [1, 3]
    for group in groups:
        sizes = {(r[1] - r[0], r[3] - r[2]) for _, r in group}
        assert len(sizes) == 1  # one size a call
        for box, r in group:
            assert r[0] <= box[0] and box[1] <= r[1] and r[2] <= box[2] and box[3] <= r[3]
            assert 0 <= r[0] and r[1] <= 32 and 0 <= r[2] and r[3] <= 40
    alone = [g for g in groups if len(g) == 1][0]
    assert alone == [(large, large)]
    # two boxes whose grown size would cost more than a call: apart
    far = [(0, 4, 0, 40), (4, 32, 0, 4)]  # a strip and a column
    assert 4 * 40 + 28 * 4 + CALL_CELLS < 2 * 32 * 40
    assert len(batch_boxes(far, (32, 40))) == 2


def test_plans_of_boxes_stack_into_one_batch():
    z = torch.randn(1, 4, 16, 20)
    plan = FramePlan(z, z + 1, torch.tensor([500, 250]), True, False, reference=z + 2)
    plan.x0_fusion = X0Fusion(z + 2, torch.rand(1, 1, 16, 20), 1)
    a, b = (0, 8, 0, 8), (8, 16, 12, 20)
    both = stack_plans([cut_plan(plan, a), cut_plan(plan, b)])
    assert both.z_start.shape == (2, 4, 8, 8) and both.x0_fusion is not None
    assert torch.equal(both.noise[1:], cut_plan(plan, b).noise)
    assert torch.equal(both.x0_fusion.mask[:1], cut_plan(plan, a).x0_fusion.mask)
    assert torch.equal(both.timesteps, plan.timesteps)


def test_boxes_in_one_batch_attend_as_each_would_alone():
    """Boxes denoised as one batch (a row per box in each guidance half): each attends to its
    own tokens, the anchor around it and the whole previous frame, exactly as alone, and the
    frame records the tokens of every box."""
    from diffusers.models.attention_processor import Attention

    from vidx.restyle.diffusion.attention import CrossFrameAttnProcessor, CrossFrameState

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    state = CrossFrameState(cells=(8, 12))
    attn.set_processor(CrossFrameAttnProcessor("down.attn1", state))
    key = ("down.attn1", 5)
    anchor, prev = torch.randn(2, 96, 8), torch.randn(2, 40, 8)  # two guidance halves
    boxes = ((0, 2, 0, 2), (4, 6, 8, 10))  # windows of different lengths at the corner
    rows = torch.randn(2, 2, 4, 8)  # (half, box, tokens, C)

    def start(more: bool, chosen: tuple) -> None:
        state.anchor, state.prev = {key: anchor}, {key: prev}
        state.step, state.use, state.more, state.boxes = 5, True, more, chosen

    alone = []
    for i, box in enumerate(boxes):
        start(i > 0, (box,))
        alone.append(attn(rows[:, i]))
    recorded = state.current[key]
    state.current = {}
    start(False, boxes)
    together = attn(rows.flatten(0, 1))  # half-major: [uncond box 0, box 1, cond box 0, box 1]
    torch.testing.assert_close(together.view(2, 2, 4, 8), torch.stack(alone, dim=1))
    torch.testing.assert_close(state.current[key], recorded)


def test_boxes_in_one_call_render_as_one_by_one(tiny_pipe, tiny_model_dir, monkeypatch):
    """Two boxes of one size denoised in one batch give the frames that denoising them one
    after the other gives (guidance and cross-frame attention on), in half the UNet calls."""
    import vidx.restyle.diffusion.crops as crops
    import vidx.restyle.diffusion.img2img as img2img

    clip = subject_clip(3, 128, 160)
    ctxs = [FrameContext(0, clip.frames[0], keyframe=True)] + [
        FrameContext(i, f, keyframe=False, flow=clip.flows[i], mask=clip.trusted[i])
        for i, f in enumerate(clip.frames) if i > 0
    ]  # fmt: skip
    monkeypatch.setattr(img2img, "fresh_boxes", lambda held, cell: [(0, 8, 0, 8), (8, 16, 8, 16)])
    opts = tiny_options(tiny_model_dir, work_size=128, skip_covered=0.0, guidance=4.0)
    one, outs = run_clip(tiny_pipe, opts, clip.frames, ctxs)
    monkeypatch.setattr(crops, "CALL_CELLS", 0)  # no call is worth sharing
    apart, outs_apart = run_clip(tiny_pipe, opts, clip.frames, ctxs)
    assert one.describe()["boxed_frames"] == apart.describe()["boxed_frames"] == 2
    assert one.stats.unet_calls < apart.stats.unet_calls
    for a, b in zip(outs, outs_apart, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_a_moving_subject_renders_only_boxes_around_what_is_new(tiny_pipe, tiny_model_dir):
    clip = subject_clip(5, 128, 160)
    ctxs = [FrameContext(0, clip.frames[0], keyframe=True)] + [
        FrameContext(i, f, keyframe=False, flow=clip.flows[i], mask=clip.trusted[i])
        for i, f in enumerate(clip.frames) if i > 0
    ]  # fmt: skip
    opts = tiny_options(tiny_model_dir, work_size=128, skip_covered=0.0)
    r, outs = run_clip(tiny_pipe, opts, clip.frames, ctxs)
    d = r.describe()
    # every frame after the first leaves a trail and moves its subject: rendered in boxes,
    # at the full strength (its own latent there), each box well under the whole frame
    assert d["boxed_frames"] == 4
    assert 0.0 < d["boxed_share_mean"] <= 0.5
    assert all(o.shape == (128, 160, 3) and o.std() > 1 for o in outs)
    # without the propagation nothing says what is held: every frame renders whole
    whole = tiny_options(tiny_model_dir, work_size=128, skip_covered=0.0, propagate=False)
    w, _ = run_clip(tiny_pipe, whole, clip.frames, ctxs)
    assert w.describe()["boxed_frames"] == 0


def test_new_content_runs_the_full_strength_and_held_cells_join_at_the_reuse_strength(
    tiny_pipe, tiny_model_dir, clip
):
    frames, ctxs = clip[0][:3], clip[1][:3]
    r, _ = run_clip(tiny_pipe, tiny_options(tiny_model_dir, steps=8), frames[:2], ctxs[:2])
    z = r._engine.prev_latent
    h, w = z.shape[2], z.shape[3]
    whole = r._engine.prepare(r.pipe, z, ctxs[2], strength=0.5, reuse_strength=0.25)
    assert len(whole.timesteps) == 2 and whole.hold is None  # nothing said new: reuse strength
    held = held_map(h, w, [(0, h, 0, 2)])  # the entering strip is new
    plan = r._engine.prepare(
        r.pipe, z, ctxs[2], strength=0.5, reuse_strength=0.25, held=held
    )  # fmt: skip
    assert len(plan.timesteps) == 4  # int(8 * 0.5): the new content at the full strength
    assert plan.hold is not None and plan.hold.steps == 2  # held cells wait out 4 - 2 steps
    assert torch.equal(plan.hold.mask, held)
    assert plan.x0_fusion is not None and float(plan.x0_fusion.mask[..., :, :2].max()) == 0.0


def test_the_next_frame_attends_to_every_box_of_this_one():
    """Cross-frame attention keeps a frame's features for the next one: a frame rendered in
    boxes keeps every box's, not only the last box's (each walker attends to its own past)."""
    from diffusers.models.attention_processor import Attention

    from vidx.restyle.diffusion.attention import CrossFrameAttnProcessor, CrossFrameState

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=1, dim_head=8)
    state = CrossFrameState()
    attn.set_processor(CrossFrameAttnProcessor("down.attn1", state))
    key = ("down.attn1", 7)
    first, second = torch.randn(1, 6, 8), torch.randn(1, 10, 8)
    state.step, state.use = 7, True
    for i, box in enumerate((first, second)):  # one frame, two boxes
        state.more = i > 0
        attn(box)
    state.end_frame(keyframe=False)
    assert state.prev[key].shape == (1, 16, 8) and not state.more
    assert torch.equal(state.prev[key], torch.cat([first, second], dim=1))
    # a frame rendered whole records once, and the next one attends to those tokens
    state.step = 7
    attn(first)
    assert state.current[key].shape == (1, 6, 8)
    assert [t.shape[1] for t, _ in state.extras(key, first)] == [16]


def test_a_stored_frame_is_projected_once_and_attends_as_before():
    """The anchor's and previous frame's keys and values are projected once per timestep and
    reused by every box and frame after it; attending through them gives what attending to
    the concatenated features does (plain self-attention over [own, anchor, previous])."""
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from vidx.restyle.diffusion.attention import CrossFrameAttnProcessor, CrossFrameState

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    state = CrossFrameState()
    attn.set_processor(CrossFrameAttnProcessor("down.attn1", state))
    rows: list[int] = []
    attn.to_k.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[1]))
    key_frame, later = torch.randn(1, 12, 8), torch.randn(1, 12, 8)
    state.step = 3
    attn(key_frame)
    state.end_frame(keyframe=True)
    state.step, state.use = 3, True
    boxes = (later[:, :5], later[:, 5:])
    outs = []
    for i, box in enumerate(boxes):  # one frame in two boxes: the anchor projected once
        state.more = i > 0
        outs.append(attn(box))
    assert rows == [12, 5, 12, 7]  # the key frame, the first box + the anchor, the second box
    state.end_frame(keyframe=False)
    rows.clear()
    state.step = 3
    attn(later)  # the next frame: the anchor's projection reused, the previous frame's made
    assert rows == [12, 12]
    plain = Attention(query_dim=8, heads=2, dim_head=4)
    plain.load_state_dict(attn.state_dict())
    plain.set_processor(AttnProcessor2_0())
    for box, out in zip(boxes, outs, strict=True):
        expect = plain(box, encoder_hidden_states=torch.cat([box, key_frame], dim=1))
        torch.testing.assert_close(out, expect)


def test_a_box_attends_to_the_anchor_around_it():
    """A box copies from the part of the anchor around it (grown by its own size), at every
    layer's scale: anchor tokens far from it do not change its output, near ones do."""
    from diffusers.models.attention_processor import Attention

    from vidx.restyle.diffusion.attention import CrossFrameAttnProcessor, CrossFrameState

    state, box = CrossFrameState(cells=(8, 12)), (2, 4, 2, 4)
    near = state.window(box, 1)  # the whole latent grid, 8 x 12: rows 0-5, columns 0-5
    assert sorted(near.tolist()) == [r * 12 + c for r in range(6) for c in range(6)]
    half = state.window(box, 2)  # a layer at half scale, 4 x 6: rows 0-2, columns 0-2
    assert sorted(half.tolist()) == [r * 6 + c for r in range(3) for c in range(3)]
    assert state.pick(None, 96, box, 1).tolist() == near.tolist()  # a whole frame: its window
    assert state.pick(None, 7, box, 1).tolist() == list(range(7))  # not this frame's grid: all

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    state = CrossFrameState()
    attn.set_processor(CrossFrameAttnProcessor("down.attn1", state))
    key_frame = torch.randn(1, 96, 8)
    state.step = 5
    attn(key_frame)
    state.end_frame(keyframe=True)
    tokens = torch.randn(1, 4, 8)

    def render(anchor: torch.Tensor) -> torch.Tensor:
        state.anchor = state.prev = {("down.attn1", 5): anchor}
        state.step, state.use, state.boxes, state.cells = 5, True, (box,), (8, 12)
        return attn(tokens)

    far, close = key_frame.clone(), key_frame.clone()
    far[:, 7 * 12 + 11] += 5.0  # the bottom-right corner, outside the window
    close[:, 3 * 12 + 3] += 5.0  # inside the box
    torch.testing.assert_close(render(far), render(key_frame))
    assert not torch.allclose(render(close), render(key_frame))


def test_a_box_attends_to_the_previous_frame_around_it():
    """A frame rendered in boxes records where its boxes' tokens lie, and a box of the next
    frame attends only to those of them around it (where its subject was a frame ago)."""
    from diffusers.models.attention_processor import Attention

    from vidx.restyle.diffusion.attention import CrossFrameAttnProcessor, CrossFrameState

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    state = CrossFrameState(cells=(8, 12))
    attn.set_processor(CrossFrameAttnProcessor("down.attn1", state))
    key = ("down.attn1", 5)
    state.step, state.use = 5, True
    attn(torch.randn(1, 96, 8))  # the keyframe, whole
    state.end_frame(keyframe=True)
    here, there = (0, 2, 0, 2), (6, 8, 10, 12)  # two boxes in opposite corners, one batch
    state.step, state.boxes = 5, (here, there)
    attn(torch.randn(2, 4, 8))
    state.end_frame(keyframe=False)
    assert state.prev_at[key].tolist() == [0, 1, 12, 13, 82, 83, 94, 95]
    assert state.pick(state.prev_at[key], 8, here, 1).tolist() == [0, 1, 2, 3]
    prev, at, tokens = state.prev[key], state.prev_at[key], torch.randn(1, 4, 8)

    def render(previous: torch.Tensor) -> torch.Tensor:
        state.prev, state.prev_at = {key: previous}, {key: at}
        state.step, state.boxes = 5, (here,)
        out = attn(tokens)
        state.current, state.current_at = {}, {}
        return out

    far, close = prev.clone(), prev.clone()
    far[:, 5] += 5.0  # the other corner's box
    close[:, 1] += 5.0  # this box a frame ago
    torch.testing.assert_close(render(far), render(prev))
    assert not torch.allclose(render(close), render(prev))


def test_the_noise_travels_with_content_the_flow_check_rejects(tiny_pipe, tiny_model_dir, clip):
    """A subject that changes shape fails the flow's consistency check, yet the flow still
    follows it roughly: its noise is carried along the flow (integral warping keeps it i.i.d.),
    not drawn afresh each frame, so the subject's texture does not boil."""
    frames, ctxs = clip[0][:3], clip[1][:3]
    r, _ = run_clip(tiny_pipe, tiny_options(tiny_model_dir, steps=8), frames[:2], ctxs[:2])
    z, before = r._engine.prev_latent, r._engine.noise.noise
    c = ctxs[2]
    rejected = np.ones(c.mask.shape, bool)
    rejected[:, : c.mask.shape[1] // 2] = False  # the check fails on the left half
    still = np.zeros_like(c.flow)  # no motion: carried noise is the previous noise, exactly
    ctx = FrameContext(2, c.source, keyframe=False, flow=still, mask=rejected)
    held = held_map(z.shape[2], z.shape[3], [(0, z.shape[2], 0, z.shape[3] // 2)])
    plan = r._engine.prepare(
        r.pipe, z, ctx, strength=0.5, reuse_strength=0.25, held=held
    )  # fmt: skip
    assert before is not None and torch.equal(plan.noise, before)
