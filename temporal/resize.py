"""Resize flow fields (rescaling their vectors) and boolean masks between resolutions.

Convention: sizes are ``(height, width)``. A flow vector scales by the per-axis size ratio
(x by ``new_w / w``, y by ``new_h / h``), the pixel-centre mapping ``x' = (x + 0.5) * s - 0.5``.
"""

from __future__ import annotations

from typing import TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from temporal._checks import check_size
from temporal.errors import TemporalError

FlowT = TypeVar("FlowT", np.ndarray, torch.Tensor)


def resize_flow(flow: FlowT, size: tuple[int, int]) -> FlowT:
    """Resize a flow field to ``size`` and rescale its vectors.

    Args:
        flow: ``(H, W, 2)`` numpy array or ``(B, 2, H, W)`` tensor, in pixels.
        size: ``(height, width)`` of the result, e.g. latent resolution ``(H // 8, W // 8)``.

    Returns:
        Flow of the same kind and dtype at ``size``, in pixels of the new size. Shrinking
        averages (area), enlarging interpolates bilinearly.
    """
    new_h, new_w = check_size(size)
    if isinstance(flow, torch.Tensor):
        if flow.ndim != 4 or flow.shape[1] != 2:
            raise TemporalError(
                f"flow tensor must have shape (B, 2, H, W), got {tuple(flow.shape)}"
            )
        h, w = flow.shape[2:]
        if (h, w) == (new_h, new_w):
            return flow.clone()
        shrink = new_h <= h and new_w <= w
        src = flow.float()
        if shrink:
            out = F.interpolate(src, size=(new_h, new_w), mode="area")
        else:
            out = F.interpolate(src, size=(new_h, new_w), mode="bilinear", align_corners=False)
        factors = torch.tensor([new_w / w, new_h / h], dtype=out.dtype, device=out.device)
        return (out * factors.view(1, 2, 1, 1)).to(flow.dtype)
    if not isinstance(flow, np.ndarray) or flow.ndim != 3 or flow.shape[2] != 2:
        shape = getattr(flow, "shape", type(flow))
        raise TemporalError(f"flow must have shape (H, W, 2) or (B, 2, H, W), got {shape}")
    h, w = flow.shape[:2]
    if (h, w) == (new_h, new_w):
        return flow.copy()
    shrink = new_h <= h and new_w <= w
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = cv2.resize(flow.astype(np.float32, copy=False), (new_w, new_h), interpolation=interp)
    out[:, :, 0] *= new_w / w
    out[:, :, 1] *= new_h / h
    return out.astype(flow.dtype, copy=False)


MaskT = TypeVar("MaskT", np.ndarray, torch.Tensor)


def resize_mask(mask: MaskT, size: tuple[int, int], *, threshold: float = 0.5) -> MaskT:
    """Resize a boolean mask to ``size``.

    Args:
        mask: ``(H, W)`` bool numpy array or tensor (also ``(B, 1, H, W)`` tensor).
        size: ``(height, width)`` of the result.
        threshold: when shrinking, a cell is True where the fraction of True source pixels it
            covers (area average) is ``> threshold``; ``threshold=0.999`` keeps only cells that
            are fully True (conservative, for reliability masks at latent resolution).

    Returns:
        Bool mask of the same kind at ``size``. Enlarging uses nearest neighbour.
    """
    new_h, new_w = check_size(size)
    if not 0.0 <= float(threshold) < 1.0:
        raise TemporalError(f"threshold must be in [0, 1), got {threshold!r}")
    if isinstance(mask, torch.Tensor):
        if mask.ndim not in (2, 4) or (mask.ndim == 4 and mask.shape[1] != 1):
            raise TemporalError(
                f"mask tensor must have shape (H, W) or (B, 1, H, W), got {tuple(mask.shape)}"
            )
        m = mask.float()[None, None] if mask.ndim == 2 else mask.float()
        h, w = m.shape[2:]
        if new_h <= h and new_w <= w:
            out = F.interpolate(m, size=(new_h, new_w), mode="area") > threshold
        else:
            out = F.interpolate(m, size=(new_h, new_w), mode="nearest") > 0.5
        return out[0, 0] if mask.ndim == 2 else out
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        shape = getattr(mask, "shape", type(mask))
        raise TemporalError(f"mask must have shape (H, W), got {shape}")
    h, w = mask.shape
    m = mask.astype(np.float32)
    if new_h <= h and new_w <= w:
        return cv2.resize(m, (new_w, new_h), interpolation=cv2.INTER_AREA) > threshold
    return cv2.resize(m, (new_w, new_h), interpolation=cv2.INTER_NEAREST) > 0.5
