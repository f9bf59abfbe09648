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

Convention: ``held`` ``(1, 1, h, w)`` float at latent size, 1 where the layers hold the cell
(``reuse_mask.held_cells``); a box is ``(y0, y1, x0, x1)`` in latent cells, end exclusive.
"""

from __future__ import annotations

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


def cut(x: torch.Tensor, box: Box) -> torch.Tensor:
    """``(B, C, h, w)`` -> the ``box`` of it."""
    y0, y1, x0, x1 = box
    return x[:, :, y0:y1, x0:x1]


def cut_plan(plan: FramePlan, box: Box) -> FramePlan:
    """``plan`` for the ``box`` of its latent: every tensor of it cut to the box (the
    timesteps stay: the box is denoised exactly as the whole frame would be)."""
    pull = None if plan.pull is None else Pull(
        cut(plan.pull.target, box), cut(plan.pull.noise, box), cut(plan.pull.mask, box),
        plan.pull.steps,
    )  # fmt: skip
    fusion = plan.x0_fusion
    if fusion is not None:
        fusion = X0Fusion(cut(fusion.target, box), cut(fusion.mask, box), fusion.steps)
    reference = None if plan.reference is None else cut(plan.reference, box)
    hold = plan.hold
    if hold is not None:
        hold = Keep(cut(hold.source, box), cut(hold.noise, box), cut(hold.mask, box), hold.steps)
    return replace(
        plan,
        z_start=cut(plan.z_start, box),
        noise=cut(plan.noise, box),
        pull=pull,
        x0_fusion=fusion,
        reference=reference,
        hold=hold,
    )


def paste_latent(whole: torch.Tensor, part: torch.Tensor, box: Box) -> torch.Tensor:
    """``whole`` with ``part`` in its ``box`` (a copy)."""
    y0, y1, x0, x1 = box
    out = whole.clone()
    out[:, :, y0:y1, x0:x1] = part.to(out.dtype)
    return out


def paste_image(whole: np.ndarray, part: np.ndarray, box: Box, cell: int) -> np.ndarray:
    """``whole`` ``(H, W, 3)`` with ``part`` (the decoded box, ``cell`` pixels a latent cell)
    in its box, in place."""
    y0, y1, x0, x1 = (v * cell for v in box)
    h, w = whole.shape[:2]
    whole[y0 : min(y1, h), x0 : min(x1, w)] = part[: min(y1, h) - y0, : min(x1, w) - x0]
    return whole
