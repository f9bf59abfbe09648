"""Pixel-space temporal consistency for feed-forward restyle backends.

On a non-keyframe the previous output is warped into the current frame with the source flow
and fused into the fresh per-frame result inside the reliable-flow mask; occluded pixels,
keyframes and scene cuts take the fresh result unchanged, so nothing ghosts or freezes.
"""

from __future__ import annotations

import cv2
import numpy as np

import temporal
from vidx.frame import FrameContext


def feather_radius(height: int, width: int) -> int:
    """Soft-edge radius in pixels for a frame of this size: 1 px per 480 px of long side (>= 1)."""
    return max(1, round(max(height, width) / 480))


def soft_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Feather a reliable-pixel mask without leaking into unreliable pixels.

    ``mask`` is ``(H, W)`` bool; the result is ``(H, W)`` float32 in ``[0, 1]``.
    Convention: the mask is eroded by ``radius`` and then Gaussian blurred with a kernel
    of the same radius, so every pixel that was False stays exactly 0 (occlusions take the fresh
    result) while the seam along reliable regions ramps over ~``2 * radius`` pixels.
    """
    m = mask.astype(np.float32)
    if radius <= 0:
        return m
    size = 2 * radius + 1
    kernel = np.ones((size, size), np.uint8)
    eroded = cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE)
    soft = cv2.GaussianBlur(eroded, (size, size), radius / 2.0, borderType=cv2.BORDER_REPLICATE)
    return np.asarray(soft, dtype=np.float32)


def inside_mask(flow: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: True where ``p + flow[p]`` lands inside the frame (flow ``(H, W, 2)``)."""
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    return (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)


class PixelTemporal:
    """Carries the previous output of one restyle backend.

    Images are ``(H, W, 3)`` float32 in ``[0, 1]``. ``step(fresh, ctx)`` returns what the frame
    should be: ``fresh`` itself on keyframes (``ctx.keyframe``, no flow, size change), else
    ``fresh`` with the warped previous output fused in with ``weight`` inside the feathered
    ``ctx.mask``.
    """

    def __init__(self, weight: float = 0.8) -> None:
        self.weight = float(weight)
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous = None

    def step(self, fresh: np.ndarray, ctx: FrameContext) -> np.ndarray:
        prev = self.previous
        reuse = (
            prev is not None
            and not ctx.keyframe
            and ctx.flow is not None
            and ctx.mask is not None
            and prev.shape == fresh.shape
            and self.weight > 0
        )
        if prev is None or not reuse:
            self.previous = fresh
            return fresh
        h, w = fresh.shape[:2]
        flow = np.asarray(ctx.flow, dtype=np.float32)
        mask = np.asarray(ctx.mask, dtype=bool)
        if flow.shape[:2] != (h, w):
            flow = temporal.resize_flow(flow, (h, w))
        if mask.shape != (h, w):
            mask = temporal.resize_mask(mask, (h, w))
        reliable = mask & inside_mask(flow)
        alpha = soft_mask(reliable, feather_radius(h, w))
        warped = temporal.warp(prev, flow).astype(np.float32)
        out = temporal.fuse(fresh, warped, alpha, self.weight).astype(np.float32)
        out = np.clip(out, 0.0, 1.0)
        self.previous = out
        return out
