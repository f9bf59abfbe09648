"""The reuse mask: where a frame may take the past along the flow, at latent resolution.

Per DESIGN.md "Temporal consistency" 1: specks of the pixel mask thinner than ``open_cells``
latent cells are removed first (a morphological opening of the unreliable region at the mask's
resolution: DIS marks scattered single pixels whose flow is off by well under a latent cell);
then any unreliable pixel marks its latent cell (a cell is reliable only when all its pixels
are), the unreliable region is dilated (``--reuse-dilate``), and the reliable one feathered
inward (``--reuse-feather``). Not the user's ``--mask`` (the restyle region, ``vidx.regions``).

Convention: masks ``(1, 1, h, w)`` float in [0, 1] at latent size; pixel masks ``(H, W)`` bool.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

import temporal
from temporal.occlusion import remove_specks


def latent_mask(
    mask: np.ndarray | None,
    size: tuple[int, int],
    like: torch.Tensor,
    *,
    dilate: int = 1,
    feather: float = 1.0,
    open_cells: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel reliability ``(H, W)`` bool -> latent masks ``(hard, soft)``, each ``(1, 1, h, w)``.

    ``hard`` is 1 where every pixel under the cell is reliable (after ``remove_specks`` with
    ``open_cells``), after growing the unreliable region by ``dilate`` cells; ``soft`` is
    ``hard`` feathered inward with a Gaussian of ``feather`` cells (0 outside ``hard``, ramping
    to 1 inside).
    """
    hard: np.ndarray = np.ones(size, dtype=np.float32)
    if mask is not None:
        mask = remove_specks(mask.astype(bool, copy=False), open_cells * mask.shape[0] / size[0])
        small = temporal.resize_mask(mask, size, threshold=0.999)
        hard = small.astype(np.float32)
    if dilate > 0:
        k = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
        hard = np.asarray(cv2.erode(hard, k, borderType=cv2.BORDER_CONSTANT, borderValue=1.0))
    soft: np.ndarray = hard
    if feather > 0:
        ksize = 2 * int(np.ceil(3 * feather)) + 1
        blurred = cv2.GaussianBlur(hard, (ksize, ksize), feather, borderType=cv2.BORDER_REPLICATE)
        soft = np.asarray(blurred) * hard

    def tensor(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return t.to(device=like.device)[None, None]

    return tensor(hard), tensor(soft)


def feather_mask(hard: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(1, 1, h, w)`` 0/1 mask feathered inward: Gaussian of ``sigma`` cells, times ``hard``."""
    if sigma <= 0:
        return hard.float()
    r = int(np.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32, device=hard.device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    m = F.pad(hard.float(), (r, r, r, r), mode="replicate")
    m = F.conv2d(m, g.view(1, 1, 1, -1))
    m = F.conv2d(m, g.view(1, 1, -1, 1))
    return m * hard.float()


MIN_FRESH_PX = 3.0  # new content thinner than this is left to the held render (a speck)


def held_cells(
    remaining: np.ndarray,
    size: tuple[int, int],
    like: torch.Tensor,
    *,
    dilate: int = 1,
    open_px: float = MIN_FRESH_PX,
) -> torch.Tensor:
    """Where the pixel propagation holds the frame, at latent ``size``: ``remaining`` ``(H, W)``
    float (the weight the layers leave to the render, ``propagate.Step``) -> ``(1, 1, h, w)``
    float, 1 on a cell all of whose pixels are held (``remaining < 0.5``), with the rest (what
    the frame must render as new content) grown by ``dilate`` cells for context. Unheld specks
    and lines thinner than ``open_px`` pixels (at least ``MIN_FRESH_PX``) do not count: a pixel
    that rounding tips over the layers' source check must not change how the frame renders."""
    ok = remove_specks(remaining < 0.5, max(MIN_FRESH_PX, open_px))
    held = temporal.resize_mask(ok, size, threshold=0.999).astype(np.float32)
    if dilate > 0:
        k = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
        held = np.asarray(cv2.erode(held, k, borderType=cv2.BORDER_CONSTANT, borderValue=1.0))
    t = torch.from_numpy(np.ascontiguousarray(held, dtype=np.float32))
    return t.to(device=like.device)[None, None]
