"""Scene-cut detection and keyframe scheduling.

A cut is declared when two independent signals agree that frame ``cur`` does not continue
frame ``prev``:

* ``hist_distance``: ``1 - correlation`` of the hue/saturation histograms (0 = same colours,
  up to 2); a pan keeps most colours, a new shot usually does not.
* ``residual``: mean absolute difference in [0, 1] (gray) between ``cur`` and ``prev`` warped
  onto it with cheap DIS flow at low resolution; motion (pans, zooms) is explained by the flow,
  a new shot is not.
"""

from __future__ import annotations

import cv2
import numpy as np

from temporal._checks import check_image
from temporal.errors import TemporalError
from temporal.flow import flow as compute_flow
from temporal.flow import to_gray
from temporal.warp import sample_coords, warp

ANALYSIS_WIDTH = 192
HIST_THRESHOLD = 0.3
RESIDUAL_THRESHOLD = 0.08
STRONG_RESIDUAL_THRESHOLD = 0.16


def _small(image: np.ndarray, name: str) -> np.ndarray:
    image = check_image(image, name)
    if image.dtype != np.uint8:
        raise TemporalError(f"{name} must be uint8, got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3])
    h, w = image.shape[:2]
    if w > ANALYSIS_WIDTH:
        nh = max(8, round(h * ANALYSIS_WIDTH / w))
        image = cv2.resize(image, (ANALYSIS_WIDTH, nh), interpolation=cv2.INTER_AREA)
    return image


def _hs_hist(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [30, 32], [0, 180, 0, 256])
    return cv2.normalize(hist, hist, alpha=1.0, norm_type=cv2.NORM_L1)


def scene_cut_score(prev: np.ndarray, cur: np.ndarray) -> dict[str, float]:
    """Both cut signals for a frame pair.

    Args:
        prev, cur: ``(H, W, 3)`` uint8 RGB (or grayscale) frames of the same size.

    Returns:
        ``{"hist_distance": float in [0, 2], "residual": float in [0, 1]}`` (see module doc),
        computed at a width of at most 192 pixels.
    """
    p = _small(prev, "prev")
    c = _small(cur, "cur")
    if p.shape != c.shape:
        raise TemporalError(
            f"prev and cur must have the same size, got {prev.shape} and {cur.shape}"
        )
    corr = cv2.compareHist(_hs_hist(p), _hs_hist(c), cv2.HISTCMP_CORREL)
    hist_distance = float(np.clip(1.0 - corr, 0.0, 2.0))

    pg, cg = to_gray(p), to_gray(c)
    f = compute_flow(cg, pg, "dis", preset="ultrafast")
    warped = warp(pg, f).astype(np.float32)
    xs, ys = sample_coords(f)
    h, w = f.shape[:2]
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    diff = np.abs(cg.astype(np.float32) - warped) / 255.0
    residual = float(diff[inside].mean()) if inside.any() else 1.0
    return {"hist_distance": hist_distance, "residual": residual}


def is_scene_cut(
    prev: np.ndarray,
    cur: np.ndarray,
    *,
    hist_threshold: float = HIST_THRESHOLD,
    residual_threshold: float = RESIDUAL_THRESHOLD,
    strong_residual_threshold: float = STRONG_RESIDUAL_THRESHOLD,
) -> bool:
    """True when ``cur`` starts a new shot after ``prev``.

    A cut needs ``residual > residual_threshold`` (default 0.08: after flow compensation more
    than 8% mean gray difference is left) and either ``hist_distance > hist_threshold``
    (default 0.3: colours changed) or ``residual > strong_residual_threshold`` (default 0.16:
    two shots with similar colours but nothing in common). A fast pan leaves a small residual
    and similar colours, so it does not fire.

    Args:
        prev, cur: ``(H, W, 3)`` uint8 RGB frames (any size; analysed at width <= 192).
    """
    s = scene_cut_score(prev, cur)
    if s["residual"] <= residual_threshold:
        return False
    return s["hist_distance"] > hist_threshold or s["residual"] > strong_residual_threshold


class KeyframeScheduler:
    """Decides which frames are keyframes: the first frame, every ``interval`` frames counted
    from the last keyframe, and every scene cut. ``interval=0`` means only the first frame and
    cuts.

    The first frame seen after construction or :meth:`reset` is a keyframe whatever its index
    (a segment that starts mid-clip starts clean).
    """

    def __init__(self, interval: int) -> None:
        if int(interval) != interval or interval < 0:
            raise TemporalError(f"interval must be a non-negative integer, got {interval!r}")
        self.interval = int(interval)
        self.last_keyframe: int | None = None

    def is_keyframe(self, index: int, scene_cut: bool = False) -> bool:
        """Whether frame ``index`` is a keyframe; records it as the last keyframe if so."""
        key = (
            index == 0
            or scene_cut
            or self.last_keyframe is None
            or index < self.last_keyframe
            or (self.interval > 0 and index - self.last_keyframe >= self.interval)
        )
        if key:
            self.last_keyframe = index
        return key

    def reset(self) -> None:
        """Forget the last keyframe: the next frame asked about is a keyframe."""
        self.last_keyframe = None
