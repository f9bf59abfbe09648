"""Where a flow field can be trusted: forward-backward consistency and motion boundaries.

Follows Sundaram, Brox and Keutzer (ECCV 2010), as used for video style transfer by Ruder et al.
(GCPR 2016): with ``f = flow_ab[p]`` and ``b = flow_ba[p + f]`` (bilinear),

* occlusion: ``|f + b|^2 > 0.01 (|f|^2 + |b|^2) + 0.5``
* motion boundary: ``|grad u|^2 + |grad v|^2 > 0.01 |f|^2 + 0.002`` (central differences of
  ``flow_ab``)
* leaving the frame: ``p + f`` outside the image.

Any of these marks ``p`` unreliable.
"""

from __future__ import annotations

import cv2
import numpy as np

from temporal._checks import check_flow_array
from temporal.errors import TemporalError
from temporal.warp import inside_frame, sample_coords, warp


def occluded_mask(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool on frame a: True where the forward-backward check fails
    (``|f + b|^2 > 0.01 (|f|^2 + |b|^2) + 0.5``), i.e. what a shows is hidden in b (or the flow
    is wrong there). Only the occlusion test: no motion boundaries, no frame border.

    Args:
        flow_ab: ``(H, W, 2)`` flow from a to b.
        flow_ba: ``(H, W, 2)`` flow from b to a.
    """
    f = check_flow_array(flow_ab, "flow_ab")
    b = check_flow_array(flow_ba, "flow_ba")
    if f.shape != b.shape:
        raise TemporalError(
            f"flow_ab and flow_ba must have the same shape, got {f.shape} and {b.shape}"
        )
    return _occluded(f, b)


def _occluded(f: np.ndarray, b_full: np.ndarray) -> np.ndarray:
    b = warp(b_full, f)
    fb = f + b
    f_sq = (f * f).sum(axis=2)
    b_sq = (b * b).sum(axis=2)
    return (fb * fb).sum(axis=2) > 0.01 * (f_sq + b_sq) + 0.5


def consistency_mask(flow_ab: np.ndarray, flow_ba: np.ndarray, *, dilate: int = 0) -> np.ndarray:
    """Reliability mask of ``flow_ab`` (the flow from frame a to frame b).

    Args:
        flow_ab: ``(H, W, 2)`` flow from a to b (``flow(a, b)``).
        flow_ba: ``(H, W, 2)`` flow from b to a (``flow(b, a)``).
        dilate: grow the unreliable region by this many pixels (disk), to hide halo errors.

    Returns:
        ``(H, W)`` bool, True where ``flow_ab`` is reliable (visible in both frames, not on a
        motion boundary, lands inside frame b).

    Convention: for ``flow_ab = flow(cur, prev)`` the mask lives on the current frame and says
    where ``warp(prev_output, flow_ab)`` may be trusted.
    """
    f = check_flow_array(flow_ab, "flow_ab")
    b_full = check_flow_array(flow_ba, "flow_ba")
    if f.shape != b_full.shape:
        raise TemporalError(
            f"flow_ab and flow_ba must have the same shape, got {f.shape} and {b_full.shape}"
        )
    if int(dilate) != dilate or dilate < 0:
        raise TemporalError(f"dilate must be a non-negative integer, got {dilate!r}")
    h, w = f.shape[:2]
    occluded = _occluded(f, b_full)
    f_sq = (f * f).sum(axis=2)

    du_dy, du_dx = np.gradient(f[:, :, 0]) if min(h, w) > 1 else (np.zeros((h, w)),) * 2
    dv_dy, dv_dx = np.gradient(f[:, :, 1]) if min(h, w) > 1 else (np.zeros((h, w)),) * 2
    grad_sq = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    boundary = grad_sq > 0.01 * f_sq + 0.002

    outside = ~inside_frame(*sample_coords(f))

    reliable = ~(occluded | boundary | outside)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(dilate) + 1,) * 2)
        reliable = cv2.erode(
            reliable.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=1
        ).astype(bool)
    return reliable


def remove_specks(mask: np.ndarray, width: float) -> np.ndarray:
    """``(H, W)`` bool reliability with the unreliable specks and lines thinner than ``width``
    pixels removed (morphological opening of the unreliable region with an odd disk of about
    ``width`` px; below 2 px nothing changes). Unreliable regions at least that wide keep their
    shape (up to rounded corners)."""
    k = int(round(width))
    if k < 2:
        return mask
    k |= 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    bad = cv2.morphologyEx((~mask).astype(np.uint8), cv2.MORPH_OPEN, disk)
    return np.asarray(bad) == 0
