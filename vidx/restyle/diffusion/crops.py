"""Render only what the propagation does not hold: boxes around the fresh cells.

A frame between keyframes whose pixel layers (``propagate.Step``) hold most of it needs its own
render only where they do not: a moving subject and the trail it uncovers, what enters the
frame. Rendering the whole frame for those few percent costs a full UNet pass; instead the
fresh cells are grouped into boxes (grown by ``CONTEXT_PX`` of context, made of whole tiles:
``fresh_boxes``), each box is denoised on its own with the frame's plan cut to it
(``cut_plan``), and the decoded boxes are pasted over the previous output warped in: outside
the boxes the layers hold every pixel, so the pasted background is never shown where it was
not rendered. When the boxes cover more than ``MAX_BOX_SHARE`` of the frame, the frame renders
whole (a box's UNet pass costs as much per pixel, and whole-frame context is then worth more).

A UNet call has a cost of its own besides its pixels (``CALL_CELLS``), which a few small boxes
each paid: ``batch_boxes`` groups them, each box of a group grown to the group's largest height
and width (more context around it; only the box itself is pasted), and a group is denoised as
one batch (``stack_plans``) in one call a step.

Convention: ``held`` ``(1, 1, h, w)`` float at latent size, 1 where the layers hold the cell
(``reuse_mask.held_cells``); a box is ``(y0, y1, x0, x1)`` in latent cells, end exclusive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
import torch

from vidx.restyle.diffusion.denoise import Keep, Pull
from vidx.restyle.diffusion.engine import FramePlan
from vidx.restyle.diffusion.x0_fusion import X0Fusion

CONTEXT_PX = 16  # working pixels of context around the fresh cells
MAX_BOX_SHARE = 0.5  # boxes covering more of the frame than this: render it whole
TILE_CELLS = 4  # boxes are made of tiles of this many latent cells a side
# what one UNet call costs besides its pixels, in latent cells of work: a 1-row call on 8x8
# cells of the mid model took 80 ms, 4 rows 166 ms, and 32x32 cells 474 ms (1 thread)
CALL_CELLS = 128

Box = tuple[int, int, int, int]


def fresh_boxes(held: torch.Tensor, cell: int) -> list[Box]:
    """Boxes around the cells ``held`` leaves to the render (module doc), [] when the layers
    hold everything. The fresh cells, grown by ``CONTEXT_PX``, mark tiles of ``TILE_CELLS``;
    each row's runs of marked tiles become boxes, and a run continues the box above it when it
    spans the same columns. So a ring of fresh cells along the frame's edges (a zoom, a pan
    both ways) gives a strip per side, not one box over the whole frame."""
    fresh = (held[0, 0] < 0.5).cpu().numpy().astype(np.uint8)
    h, w = fresh.shape
    if not fresh.any():
        return []
    grow = max(1, int(np.ceil(CONTEXT_PX / cell)))
    grown = cv2.dilate(fresh, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    t = TILE_CELLS
    rows, cols = -(-h // t), -(-w // t)
    padded = np.zeros((rows * t, cols * t), bool)
    padded[:h, :w] = grown
    tiles = np.asarray(padded.reshape(rows, t, cols, t).any(axis=(1, 3)), bool)
    open_boxes: dict[tuple[int, int], list[int]] = {}  # (c0, c1) -> [r0, r1]
    done: list[tuple[int, int, int, int]] = []
    for r in range(rows):
        runs, c = [], 0
        while c < cols:
            if tiles[r, c]:
                c0 = c
                while c < cols and tiles[r, c]:
                    c += 1
                runs.append((c0, c))
            c += 1
        for span in list(open_boxes):
            if span not in runs:
                r0, r1 = open_boxes.pop(span)
                done.append((r0, r1, *span))
        for span in runs:
            if span in open_boxes:
                open_boxes[span][1] = r + 1
            else:
                open_boxes[span] = [r, r + 1]
    done += [(r0, r1, *span) for span, (r0, r1) in open_boxes.items()]
    return sorted((r0 * t, min(r1 * t, h), c0 * t, min(c1 * t, w)) for r0, r1, c0, c1 in done)


def box_share(boxes: list[Box], size: tuple[int, int]) -> float:
    """Share of a latent of ``size = (h, w)`` the (disjoint) ``boxes`` cover."""
    return sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in boxes) / float(size[0] * size[1])


def batch_boxes(boxes: list[Box], size: tuple[int, int]) -> list[list[tuple[Box, Box]]]:
    """Groups of ``boxes`` denoised in one call each, as ``(box, render)`` pairs: ``render``
    is the box grown about its centre (and kept inside a latent of ``size = (h, w)``) to the
    group's largest height and width. Groups merge, cheapest first, while one call over the
    grown boxes costs less than two (a call costs ``CALL_CELLS`` plus its rows' cells)."""

    def cost(group: list[Box]) -> int:
        hh = max(y1 - y0 for y0, y1, _, _ in group)
        ww = max(x1 - x0 for _, _, x0, x1 in group)
        return CALL_CELLS + len(group) * hh * ww

    groups = [[b] for b in boxes]
    while len(groups) > 1:
        saved, i, j = max(
            (cost(a) + cost(b) - cost(a + b), i, j)
            for i, a in enumerate(groups)
            for j, b in enumerate(groups)
            if i < j
        )
        if saved <= 0:
            break
        groups[i] += groups.pop(j)
    return [[(b, grow_box(b, group, size)) for b in group] for group in groups]


def grow_box(box: Box, group: list[Box], size: tuple[int, int]) -> Box:
    """``box`` grown about its centre to the largest height and width in ``group``, shifted
    to lie inside a latent of ``size = (h, w)``."""
    hh = max(y1 - y0 for y0, y1, _, _ in group)
    ww = max(x1 - x0 for _, _, x0, x1 in group)
    y0, y1, x0, x1 = box
    top = min(max(0, y0 - (hh - (y1 - y0)) // 2), size[0] - hh)
    left = min(max(0, x0 - (ww - (x1 - x0)) // 2), size[1] - ww)
    return top, top + hh, left, left + ww


def inside(box: Box, render: Box) -> Box:
    """``box`` in the coordinates of ``render``, a box that contains it."""
    return box[0] - render[0], box[1] - render[0], box[2] - render[2], box[3] - render[2]


def scaled(box: Box, cell: int) -> Box:
    """``box`` in pixels (``cell`` pixels a latent cell)."""
    y0, y1, x0, x1 = box
    return y0 * cell, y1 * cell, x0 * cell, x1 * cell


def cut(x: torch.Tensor, box: Box) -> torch.Tensor:
    """``(B, C, h, w)`` -> the ``box`` of it."""
    y0, y1, x0, x1 = box
    return x[:, :, y0:y1, x0:x1]


def cut_plan(plan: FramePlan, box: Box) -> FramePlan:
    """``plan`` for the ``box`` of its latent: every tensor of it cut to the box (the
    timesteps stay: the box is denoised exactly as the whole frame would be)."""
    return _joined([plan], lambda parts: cut(parts[0], box))


def stack_plans(plans: list[FramePlan]) -> FramePlan:
    """Plans of equal-size boxes of one frame (``cut_plan``) as one batch, a row per box;
    the timesteps and step counts are the frame's, shared by all."""
    return plans[0] if len(plans) == 1 else _joined(plans, torch.cat)


def _joined(
    plans: list[FramePlan], each: Callable[[list[torch.Tensor]], torch.Tensor]
) -> FramePlan:
    """One plan whose every tensor is ``each`` of the ``plans``' (all cut from one frame's
    plan: a pull, fusion or hold is in all of them or in none); the timesteps and step counts
    are the first's, and a pixel-space refine (a whole frame's) is not carried."""

    def of(parts) -> torch.Tensor:
        return each(list(parts))

    pulls = [p.pull for p in plans if p.pull is not None]
    pull = None if not pulls else Pull(
        of(q.target for q in pulls), of(q.noise for q in pulls), of(q.mask for q in pulls),
        pulls[0].steps,
    )  # fmt: skip
    fusions = [p.x0_fusion for p in plans if p.x0_fusion is not None]
    fusion = None if not fusions else X0Fusion(
        of(f.target for f in fusions), of(f.mask for f in fusions), fusions[0].steps
    )  # fmt: skip
    holds = [p.hold for p in plans if p.hold is not None]
    hold = None if not holds else Keep(
        of(k.source for k in holds), of(k.noise for k in holds), of(k.mask for k in holds),
        holds[0].steps,
    )  # fmt: skip
    refs = [p.reference for p in plans if p.reference is not None]
    return replace(
        plans[0],
        z_start=of(p.z_start for p in plans),
        noise=of(p.noise for p in plans),
        pull=pull,
        x0_fusion=fusion,
        reference=of(refs) if refs else None,
        hold=hold,
    )


def paste_latent(whole: torch.Tensor, part: torch.Tensor, box: Box) -> torch.Tensor:
    """``whole`` with ``part`` in its ``box`` (a copy)."""
    y0, y1, x0, x1 = box
    out = whole.clone()
    out[:, :, y0:y1, x0:x1] = part.to(out.dtype)
    return out


def cut_image(image: np.ndarray, box: Box, cell: int) -> np.ndarray:
    """The ``box`` (latent cells, ``cell`` pixels each) of an ``(H, W, 3)`` image."""
    y0, y1, x0, x1 = scaled(box, cell)
    return image[y0:y1, x0:x1]


def paste_image(whole: np.ndarray, part: np.ndarray, box: Box, cell: int) -> np.ndarray:
    """``whole`` ``(H, W, 3)`` with ``part`` (the decoded box, ``cell`` pixels a latent cell)
    in its box, in place."""
    y0, y1, x0, x1 = scaled(box, cell)
    h, w = whole.shape[:2]
    whole[y0 : min(y1, h), x0 : min(x1, w)] = part[: min(y1, h) - y0, : min(x1, w) - x0]
    return whole
