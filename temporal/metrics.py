"""Warping error (Lai et al., ECCV 2018), the shared ruler for temporal stability.

For each pair (t-1, t): DIS flow on the *source* frames, backward flow ``b = flow(src_t,
src_{t-1})`` and forward flow ``f = flow(src_{t-1}, src_t)``; ``mask = consistency_mask(b, f)``
(forward-backward check and motion boundaries); output t-1 is warped into t with ``b``; the
error of the pair is the mean squared difference of RGB in [0, 1] over masked pixels and
channels. The clip's error is the mean over pairs. Outputs at another size than the source are
resized to the source size first (``cv2.INTER_AREA``).

The flow uses the ``"fine"`` DIS preset, computed at a long side of at most 1024 pixels
(``scale=None``) and resized back to the source size, so a 4K clip costs about what a 1080p
one does; pass ``scale=1.0`` for full-resolution flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from temporal._checks import check_image
from temporal.errors import TemporalError
from temporal.flow import DEFAULT_PRESET
from temporal.flow import flow as compute_flow
from temporal.occlusion import consistency_mask
from temporal.warp import warp

ANALYSIS_LONG_SIDE = 1024


def auto_scale(size: tuple[int, int]) -> float:
    """Flow analysis scale for a source of ``(height, width)``: long side at most 1024 px."""
    return min(1.0, ANALYSIS_LONG_SIDE / max(size))


def _rgb01(frame: np.ndarray, size: tuple[int, int], name: str) -> np.ndarray:
    frame = check_image(frame, name)
    if frame.dtype != np.uint8:
        raise TemporalError(f"{name} frames must be uint8, got dtype {frame.dtype}")
    if frame.ndim == 2:
        frame = frame[:, :, None]
    h, w = size
    if frame.shape[:2] != (h, w):
        frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        if frame.ndim == 2:
            frame = frame[:, :, None]
    return frame.astype(np.float32) / 255.0


def pair_warp_error(
    src_prev: np.ndarray,
    src_cur: np.ndarray,
    out_prev: np.ndarray,
    out_cur: np.ndarray,
    *,
    preset: str = DEFAULT_PRESET,
    scale: float | None = None,
) -> float | None:
    """Warping error of one pair; None when no pixel is reliable.

    Args:
        src_prev, src_cur: ``(H, W, 3)`` uint8 source frames t-1 and t.
        out_prev, out_cur: ``(H', W', 3)`` uint8 output frames t-1 and t (resized to H x W).
        preset: DIS preset for the source flow.
        scale: flow analysis scale; None = long side at most 1024 px.
    """
    size = src_cur.shape[:2]
    s = auto_scale(size) if scale is None else scale
    back = compute_flow(src_cur, src_prev, "dis", preset=preset, scale=s)
    fwd = compute_flow(src_prev, src_cur, "dis", preset=preset, scale=s)
    mask = consistency_mask(back, fwd)
    if not mask.any():
        return None
    o_prev = _rgb01(out_prev, size, "output")
    o_cur = _rgb01(out_cur, size, "output")
    diff = (o_cur - warp(o_prev, back)) ** 2
    return float(diff[mask].mean())


def warp_error_pairs(
    source_frames: Iterable[np.ndarray],
    output_frames: Iterable[np.ndarray],
    *,
    max_frames: int | None = None,
    preset: str = DEFAULT_PRESET,
    scale: float | None = None,
    strict: bool = False,
) -> Iterator[float]:
    """Yield the warping error of each consecutive pair, streaming (two frames held at a time).

    Args:
        source_frames: iterable of ``(H, W, 3)`` uint8 source frames.
        output_frames: iterable of ``(H', W', 3)`` uint8 output frames, same count.
        max_frames: use at most this many frames (``max_frames - 1`` pairs); None = all.
        preset: DIS preset for the source flow (default ``"fine"``).
        scale: flow analysis scale; None = long side at most 1024 px.
        strict: raise when one iterable ends before the other; by default pairing stops at
            the shorter one (like ``zip``), so the caller can count and report both.

    Yields:
        One float per pair that has reliable pixels (pairs with none are skipped).

    Raises:
        TemporalError: lengths differ (with ``strict``), or a frame changes size.
    """
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 2):
        raise TemporalError(f"max_frames must be an integer >= 2, got {max_frames!r}")
    src_it, out_it = iter(source_frames), iter(output_frames)
    sentinel = object()
    prev: tuple[np.ndarray, np.ndarray] | None = None
    count = 0
    while max_frames is None or count < max_frames:
        s = next(src_it, sentinel)
        o = next(out_it, sentinel)
        if s is sentinel or o is sentinel:
            if not strict or (s is sentinel and o is sentinel):
                return
            shorter = "source_frames" if s is sentinel else "output_frames"
            raise TemporalError(f"{shorter} ended after {count} frames; the other has more")
        s = check_image(s, "source_frames")
        o = check_image(o, "output_frames")
        if prev is not None:
            if s.shape != prev[0].shape:
                raise TemporalError(
                    f"source_frames changed size at frame {count}: {prev[0].shape} -> {s.shape}"
                )
            err = pair_warp_error(prev[0], s, prev[1], o, preset=preset, scale=scale)
            if err is not None:
                yield err
        prev = (s, o)
        count += 1


def warp_error(
    source_frames: Iterable[np.ndarray],
    output_frames: Iterable[np.ndarray],
    *,
    max_frames: int | None = None,
    preset: str = DEFAULT_PRESET,
    scale: float | None = None,
    strict: bool = False,
) -> float:
    """Mean warping error of ``output_frames`` against the motion of ``source_frames``.

    Args:
        source_frames: sequence or iterable of ``(H, W, 3)`` uint8 source frames.
        output_frames: the same number of ``(H', W', 3)`` uint8 output frames (any size; they
            are resized to ``H x W`` with ``cv2.INTER_AREA``).
        max_frames: use at most this many frames; None = all.
        preset: DIS preset for the source flow (default ``"fine"``).
        scale: flow analysis scale; None = long side at most 1024 px.
        strict: raise when the counts differ (default: score the pairs both have).

    Returns:
        Mean over pairs of the mean squared RGB difference in [0, 1] over reliable pixels
        (lower is steadier; 0 = the output follows the source motion exactly).

    Raises:
        TemporalError: fewer than 2 frames, mismatched lengths (``strict``), or no pair with
            reliable pixels.
    """
    pairs = warp_error_pairs(
        source_frames,
        output_frames,
        max_frames=max_frames,
        preset=preset,
        scale=scale,
        strict=strict,
    )
    errors = list(pairs)
    if not errors:
        raise TemporalError(
            "source_frames must hold at least 2 frames with some trackable motion to measure "
            "a warping error"
        )
    return float(np.mean(errors))


class WarpErrorMeter:
    """Running warping error fed one (source, output) frame at a time (e.g. inside a pipeline).

    ``update(src, out)`` adds frame t; ``value`` is the mean over the pairs seen so far (None
    before the first scored pair). Holds only the previous frame pair.
    """

    def __init__(self, *, preset: str = DEFAULT_PRESET, scale: float | None = None) -> None:
        self.preset = preset
        self.scale = scale
        self.total = 0.0
        self.pairs = 0
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, source: np.ndarray, output: np.ndarray) -> float | None:
        """Add one frame; returns the error of the pair it closes (None for the first frame)."""
        err = None
        if self._prev is not None:
            err = pair_warp_error(
                self._prev[0], source, self._prev[1], output, preset=self.preset, scale=self.scale
            )
            if err is not None:
                self.total += err
                self.pairs += 1
        self._prev = (source, output)
        return err

    @property
    def value(self) -> float | None:
        return self.total / self.pairs if self.pairs else None

    def reset(self) -> None:
        """Forget the previous frame (call at a cut you do not want scored across)."""
        self._prev = None
