"""A frame at the diffusion backend's working size: the frame check, the working size and
resize, and the user's restyle region (``ctx.region``) as a latent keep mask.

Convention: frames ``(H, W, 3)`` uint8 RGB; sizes ``(h, w)``; latents ``(1, C, h, w)``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from vidx.errors import InputError


def work_size_for(height: int, width: int, work_size: int, multiple: int = 8) -> tuple[int, int]:
    """Working resolution ``(h, w)``: short side ``work_size``, aspect kept, both multiples of
    ``multiple`` (at least ``multiple``)."""
    short = min(height, width)
    scale = work_size / short

    def snap(n: float) -> int:
        return max(multiple, int(round(n / multiple)) * multiple)

    return snap(height * scale), snap(width * scale)


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``size = (h, w)``: area when shrinking, cubic when enlarging."""
    h, w = size
    if image.shape[:2] == (h, w):
        return np.ascontiguousarray(image)
    shrink = h <= image.shape[0] and w <= image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def check_frame(image: np.ndarray, what: str = "a frame") -> np.ndarray:
    """``image`` itself when it is an ``(H, W, 3)`` uint8 array; else an InputError naming
    ``what`` it was meant to be."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"{what} must be an (H, W, 3) uint8 array, got {getattr(image, 'shape', image)}"
        )
    if image.dtype != np.uint8:
        raise InputError(f"{what} must be uint8, got {image.dtype}")
    return image


def latent_keep(region: np.ndarray, size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """``ctx.region`` (1 = restyle) as the latent keep mask ``(1, 1, h, w)`` float at latent
    ``size = (h, w)``: 1 where a latent cell is kept, fractions (area average) at the edge."""
    h, w = size
    cells = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    keep = torch.from_numpy(1.0 - np.clip(cells, 0.0, 1.0))
    return keep.to(like.device, torch.float32)[None, None]
