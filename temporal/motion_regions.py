"""Motion regions of a frame from the source alone, and the temporal figures per region.

A whole-frame mean hides a smeared moving subject (a walker is a few percent of the frame), so
the warping error and detail retention are also measured inside four exclusive regions of
frame t, labelled from the source's backward flow ``back = flow(src_t, src_{t-1})`` and forward
flow ``fwd = flow(src_{t-1}, src_t)``:

* ``entering``: ``p + back[p]`` lands outside frame t-1 (by more than half a pixel): content
  entering at the border;
* ``uncovered``: inside, but the forward-backward check fails (``occluded_mask``): visible now,
  hidden at t-1 (behind a moving subject);
* ``moving``: the motion differs from the dominant (camera) motion, a homography (or a
  similarity) fitted with RANSAC to ``back`` on a grid: residual above a threshold that grows
  with the frame size, lightly dilated. For a still camera the dominant motion is ~0, so this is
  simply what moves;
* ``background``: the rest.

Region figures skip a region in a frame where it holds fewer than ``min_share`` of the pixels
(default 0.2 %), and report how many frames (pairs) were used.

Convention: flows are ``(H, W, 2)`` float32 in pixels (x first), backward flow t -> t-1 as in
``temporal.warp``; a region is an ``(H, W)`` bool mask on frame t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from temporal._checks import check_flow_array, check_image
from temporal.errors import TemporalError
from temporal.metrics import exact_pair_warp_error, gradient_energy_map
from temporal.occlusion import occluded_mask
from temporal.resize import resize_mask
from temporal.warp import inside_frame, sample_coords

MOVING, UNCOVERED, ENTERING, BACKGROUND = "moving", "uncovered", "entering", "background"
REGIONS = (MOVING, UNCOVERED, ENTERING, BACKGROUND)
MIN_SHARE = 0.002  # a region under 0.2 % of the frame is skipped in that frame
MOTION_WINDOW = 6  # "moved within the last k frames", as the real-footage figure
MODELS = ("homography", "similarity")


def motion_threshold(size: tuple[int, int]) -> float:
    """Residual (pixels) above which a pixel counts as moving on its own, for a frame of
    ``(height, width)``: 1 px up to a long side of 400 px, growing with it beyond."""
    return max(1.0, 0.0025 * max(size))


def dominant_motion(
    back: np.ndarray, *, model: str = "homography", ransac_px: float | None = None
) -> np.ndarray:
    """The dominant (camera) motion of a backward flow: a ``3x3`` matrix taking frame-t pixel
    coordinates to frame t-1, fitted with RANSAC to ``back`` sampled on a grid (about 40 x 40).

    Args:
        back: ``(H, W, 2)`` backward flow t -> t-1.
        model: ``"homography"`` (``cv2.findHomography``) or ``"similarity"`` (shift, rotation,
            uniform scale; ``cv2.estimateAffinePartial2D``).
        ransac_px: RANSAC inlier threshold in pixels; None = half of ``motion_threshold``.

    Returns:
        float64 ``(3, 3)``; the median translation when the fit fails (too few points).
    """
    f = check_flow_array(back, "back")
    if model not in MODELS:
        raise TemporalError(f"model must be one of {MODELS}, got {model!r}")
    h, w = f.shape[:2]
    thr = 0.5 * motion_threshold((h, w)) if ransac_px is None else float(ransac_px)
    step = max(1, min(h, w) // 40)
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    src = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    dst = src + f[ys.ravel(), xs.ravel()]
    matrix = None
    if len(src) >= 4:
        if model == "homography":
            matrix, _ = cv2.findHomography(src, dst, cv2.RANSAC, thr, maxIters=500)
        else:
            affine, _ = cv2.estimateAffinePartial2D(
                src, dst, method=cv2.RANSAC, ransacReprojThreshold=thr, maxIters=500
            )
            matrix = None if affine is None else np.vstack([affine, [0.0, 0.0, 1.0]])
    if matrix is None:
        matrix = np.eye(3)
        matrix[:2, 2] = np.median(f.reshape(-1, 2), axis=0)
    return np.asarray(matrix, dtype=np.float64)


def motion_residual(back: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32: how far (pixels) ``back`` is from the motion of ``matrix``
    (``|back[p] - (M p - p)|``, ``M`` a ``3x3`` taking frame t to frame t-1)."""
    f = check_flow_array(back, "back")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3):
        raise TemporalError(f"matrix must have shape (3, 3), got {m.shape}")
    h, w = f.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    den = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    den = np.where(np.abs(den) < 1e-9, 1e-9, den)
    u = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / den - xs
    v = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / den - ys
    return np.hypot(f[:, :, 0] - u, f[:, :, 1] - v).astype(np.float32)


def region_labels(
    back: np.ndarray,
    fwd: np.ndarray,
    *,
    threshold: float | None = None,
    dilate: int | None = None,
    model: str = "homography",
) -> dict[str, np.ndarray]:
    """The four exclusive regions of frame t (see the module docstring).

    Args:
        back: ``(H, W, 2)`` backward flow t -> t-1 (``flow(src_t, src_{t-1})``).
        fwd: ``(H, W, 2)`` forward flow t-1 -> t (``flow(src_{t-1}, src_t)``).
        threshold: moving when the residual to the dominant motion exceeds this many pixels;
            None = ``motion_threshold`` of the frame size.
        dilate: grow ``moving`` by this many pixels (disk); None = 1 px per 400 px of the
            long side (at least 1).
        model: the dominant motion's model (``"homography"`` or ``"similarity"``).

    Returns:
        ``{"moving", "uncovered", "entering", "background"}``: ``(H, W)`` bool masks that
        partition the frame (priority entering, uncovered, moving).
    """
    b = check_flow_array(back, "back")
    f = check_flow_array(fwd, "fwd")
    if b.shape != f.shape:
        raise TemporalError(f"back and fwd must have the same shape, got {b.shape} and {f.shape}")
    size = b.shape[:2]
    thr = motion_threshold(size) if threshold is None else float(threshold)
    if not thr > 0:
        raise TemporalError(f"threshold must be > 0 pixels, got {threshold!r}")
    grow = max(1, round(max(size) / 400)) if dilate is None else int(dilate)
    if grow < 0:
        raise TemporalError(f"dilate must be a non-negative integer, got {dilate!r}")
    xs, ys = sample_coords(b)
    h, w = size
    # outside frame t-1 by more than half a pixel (DIS on a still border wobbles by less)
    entering = (xs < -0.5) | (xs > w - 0.5) | (ys < -0.5) | (ys > h - 0.5)
    uncovered = occluded_mask(b, f) & ~entering
    moving = motion_residual(b, dominant_motion(b, model=model)) > thr
    if grow > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
        moving = cv2.dilate(moving.astype(np.uint8), k).astype(bool)
    moving &= ~(entering | uncovered)
    background = ~(entering | uncovered | moving)
    return {MOVING: moving, UNCOVERED: uncovered, ENTERING: entering, BACKGROUND: background}


def moved_within(masks: Sequence[np.ndarray], window: int = MOTION_WINDOW) -> list[np.ndarray]:
    """Per frame t, the union of ``masks[t - window + 1 .. t]`` (what moved within the last
    ``window`` frames, from per-frame ``moving`` masks)."""
    if int(window) != window or window < 1:
        raise TemporalError(f"window must be a positive integer, got {window!r}")
    ms = [np.asarray(m, dtype=bool) for m in masks]
    if ms and any(m.shape != ms[0].shape for m in ms):
        raise TemporalError("masks must all have the same shape")
    return [np.logical_or.reduce(ms[max(0, t - window + 1) : t + 1]) for t in range(len(ms))]


def with_moving(labels: Mapping[str, np.ndarray], moving: np.ndarray) -> dict[str, np.ndarray]:
    """``labels`` with ``moving`` replaced (e.g. by :func:`moved_within`), kept exclusive:
    entering and uncovered first, background the rest."""
    taken = labels[ENTERING] | labels[UNCOVERED]
    m = np.asarray(moving, dtype=bool) & ~taken
    return {
        MOVING: m,
        UNCOVERED: labels[UNCOVERED],
        ENTERING: labels[ENTERING],
        BACKGROUND: ~(taken | m),
    }


def region_shares(regions: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Fraction of the frame each region covers."""
    return {name: float(np.mean(np.asarray(m, dtype=bool))) for name, m in regions.items()}


def region_warp_errors(
    out_prev: np.ndarray,
    out_cur: np.ndarray,
    back: np.ndarray,
    regions: Mapping[str, np.ndarray],
    *,
    trusted: np.ndarray | None = None,
    min_share: float = MIN_SHARE,
) -> dict[str, float | None]:
    """Warping error of one pair inside each region (``exact_pair_warp_error`` with the region as
    its mask), None where the region is under ``min_share`` of the frame or has no pixel that is
    trusted and lands inside frame t-1.

    Args:
        out_prev, out_cur: ``(H, W, 3)`` output frames t-1 and t (uint8 or float in [0, 1]).
        back: ``(H, W, 2)`` backward flow t -> t-1 (exact, or DIS of the source).
        regions: name -> ``(H, W)`` bool on frame t.
        trusted: ``(H, W)`` bool, where ``back`` may be trusted (e.g. ``consistency_mask``);
            None = everywhere.
        min_share: skip a region smaller than this fraction of the frame.
    """
    f = check_flow_array(back, "back")
    size = f.shape[:2]
    keep = inside_frame(*sample_coords(f))
    if trusted is not None:
        trusted = np.asarray(trusted, dtype=bool)
        if trusted.shape != size:
            raise TemporalError(f"trusted must have shape {size}, got {trusted.shape}")
        keep &= trusted
    out: dict[str, float | None] = {}
    for name, region in regions.items():
        r = _region(region, size, name)
        if r.mean() < min_share:
            out[name] = None
            continue
        out[name] = exact_pair_warp_error(out_prev, out_cur, f, mask=r & keep)
    return out


def region_detail_retention(
    output: np.ndarray,
    reference: np.ndarray,
    regions: Mapping[str, np.ndarray],
    *,
    min_share: float = MIN_SHARE,
) -> dict[str, float | None]:
    """Detail retention inside each region: the gradient energy (as ``detail_retention``) of
    ``output`` there over the ``reference``'s (the per-frame render, resized to ``output``'s
    size), same region (masks are resized to ``output``'s size). None where the region is under
    ``min_share`` of the frame or the reference is flat there."""
    output = check_image(output, "output")
    reference = check_image(reference, "reference")
    size = output.shape[:2]
    if reference.shape[:2] != size:
        reference = cv2.resize(reference, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    ours, theirs = gradient_energy_map(output), gradient_energy_map(reference)
    out: dict[str, float | None] = {}
    for name, region in regions.items():
        r = np.asarray(region, dtype=bool)
        if r.ndim != 2:
            raise TemporalError(f"region {name!r} must have shape (H, W), got {r.shape}")
        if r.shape != size:
            r = resize_mask(r, size)
        ref = float(theirs[r].mean()) if r.mean() >= min_share else 0.0
        out[name] = float(ours[r].mean()) / ref if ref > 1e-12 else None
    return out


def _region(region: np.ndarray, size: tuple[int, ...], name: str) -> np.ndarray:
    r = np.asarray(region, dtype=bool)
    if r.shape != size:
        raise TemporalError(f"region {name!r} must have shape {size}, got {r.shape}")
    return r


class RegionMeter:
    """Per-region figures of a clip, fed one frame at a time (the state is the running lists).

    ``add(t, shares, errors=..., reference_errors=..., detail=...)`` records frame t: the
    region shares (:func:`region_shares`), the warping error of pair (t-1, t) per region for the
    output and for the per-frame reference (:func:`region_warp_errors`) and the detail
    retention per region (:func:`region_detail_retention`); None values (a skipped region) are
    left out. :meth:`summary` gives, per region: ``share`` (mean over the frames added),
    ``pairs`` and ``frames`` used, ``warp_error`` (mean), ``warp_error_max`` and ``worst_pair``
    (t of the worst pair), ``reference_warp_error`` and ``warp_error_ratio`` (means over the
    pairs both have), ``detail_retention_min``, ``detail_retention_mean`` and
    ``detail_retention_worst_frame``; a figure with no data is None.
    """

    def __init__(self) -> None:
        self.shares: dict[str, list[float]] = {}
        self.errors: dict[str, list[tuple[int, float, float | None]]] = {}
        self.detail: dict[str, list[tuple[int, float]]] = {}

    def add(
        self,
        t: int,
        shares: Mapping[str, float],
        *,
        errors: Mapping[str, float | None] | None = None,
        reference_errors: Mapping[str, float | None] | None = None,
        detail: Mapping[str, float | None] | None = None,
    ) -> None:
        for name, share in shares.items():
            self.shares.setdefault(name, []).append(float(share))
            self.errors.setdefault(name, [])
            self.detail.setdefault(name, [])
            e = None if errors is None else errors.get(name)
            if e is not None:
                r = None if reference_errors is None else reference_errors.get(name)
                self.errors[name].append((t, float(e), None if r is None else float(r)))
            d = None if detail is None else detail.get(name)
            if d is not None:
                self.detail[name].append((t, float(d)))

    def summary(self) -> dict[str, dict]:
        return {name: self._one(name) for name in self.shares}

    def _one(self, name: str) -> dict:
        errors, detail = self.errors[name], self.detail[name]
        row: dict = {
            "share": float(np.mean(self.shares[name])),
            "pairs": len(errors),
            "frames": len(detail),
            "warp_error": None,
            "warp_error_max": None,
            "worst_pair": None,
            "reference_warp_error": None,
            "warp_error_ratio": None,
            "detail_retention_min": None,
            "detail_retention_mean": None,
            "detail_retention_worst_frame": None,
        }
        if errors:
            worst = max(errors, key=lambda e: e[1])
            row.update(
                warp_error=float(np.mean([e[1] for e in errors])),
                warp_error_max=worst[1],
                worst_pair=worst[0],
            )
            both = [(e, r) for _, e, r in errors if r is not None]
            if both:
                ref = float(np.mean([r for _, r in both]))
                row["reference_warp_error"] = ref
                if ref > 0:
                    row["warp_error_ratio"] = float(np.mean([e for e, _ in both])) / ref
        if detail:
            low = min(detail, key=lambda d: d[1])
            row.update(
                detail_retention_min=low[1],
                detail_retention_mean=float(np.mean([d for _, d in detail])),
                detail_retention_worst_frame=low[0],
            )
        return row
