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

Steadiness is only honest next to sharpness (blur alone cuts the warping error many times), so
this module also has the rest of DESIGN.md "Metrics": the warping error of a pair with a given
(exact) flow, for synthetic clips of known motion; gradient energy and detail retention
``DR_t = E(steadied_t) / E(per_frame_t)``; a blur-matched baseline (the per-frame output blurred
until its gradient energy equals the steadied output's); and PSNR.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import cv2
import numpy as np

from temporal._checks import check_flow_array, check_image
from temporal.errors import TemporalError
from temporal.flow import DEFAULT_PRESET
from temporal.flow import flow as compute_flow
from temporal.occlusion import consistency_mask
from temporal.resize import resize_flow, resize_mask
from temporal.warp import sample_coords, warp

ANALYSIS_LONG_SIDE = 1024
LUMA = (0.299, 0.587, 0.114)  # BT.601 weights of R, G, B


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


def source_flows(
    src_prev: np.ndarray,
    src_cur: np.ndarray,
    *,
    preset: str = DEFAULT_PRESET,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The DIS flows the warping error uses: ``(backward t -> t-1, forward t-1 -> t)``, each
    ``(H, W, 2)`` at the source size (``scale``: analysis scale, None = long side <= 1024)."""
    s = auto_scale(src_cur.shape[:2]) if scale is None else scale
    back = compute_flow(src_cur, src_prev, "dis", preset=preset, scale=s)
    fwd = compute_flow(src_prev, src_cur, "dis", preset=preset, scale=s)
    return back, fwd


def pair_warp_error(
    src_prev: np.ndarray,
    src_cur: np.ndarray,
    out_prev: np.ndarray,
    out_cur: np.ndarray,
    *,
    preset: str = DEFAULT_PRESET,
    scale: float | None = None,
    region: np.ndarray | None = None,
) -> float | None:
    """Warping error of one pair; None when no pixel is reliable.

    Args:
        src_prev, src_cur: ``(H, W, 3)`` uint8 source frames t-1 and t.
        out_prev, out_cur: ``(H', W', 3)`` uint8 output frames t-1 and t (resized to H x W).
        preset: DIS preset for the source flow.
        scale: flow analysis scale; None = long side at most 1024 px.
        region: ``(H, W)`` bool on frame t: count only these pixels (and the reliable ones);
            None = the whole frame. None is returned when no reliable pixel is in it.
    """
    size = src_cur.shape[:2]
    back, fwd = source_flows(src_prev, src_cur, preset=preset, scale=scale)
    mask = consistency_mask(back, fwd)
    if region is not None:
        region = np.asarray(region, dtype=bool)
        if region.shape != size:
            raise TemporalError(f"region must have shape {size}, got {region.shape}")
        mask &= region
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


def exact_pair_warp_error(
    out_prev: np.ndarray,
    out_cur: np.ndarray,
    flow: np.ndarray,
    mask: np.ndarray | None = None,
) -> float | None:
    """Warping error of one pair with a given (exact) flow; None when no pixel is reliable.

    Args:
        out_prev, out_cur: ``(H, W, 3)`` uint8 (or float in [0, 1]) output frames t-1 and t.
        flow: ``(h, w, 2)`` backward flow t -> t-1 in pixels (the known motion of a synthetic
            clip); resized to ``H x W`` with its vectors rescaled when it has another size.
        mask: ``(h, w)`` bool, True where the flow is trusted; None = where ``p + flow[p]``
            lies inside the frame. Resized like the flow (a cell stays True only if all of it is).

    Returns:
        Mean squared RGB difference in [0, 1] between ``out_cur`` and ``warp(out_prev, flow)``
        over the masked pixels and channels.
    """
    cur = _unit_float(out_cur, "out_cur")
    prev = _unit_float(out_prev, "out_prev")
    if prev.shape != cur.shape:
        raise TemporalError(f"out_prev {prev.shape} and out_cur {cur.shape} differ in shape")
    size = cur.shape[:2]
    f = check_flow_array(flow)
    if f.shape[:2] != size:
        if mask is not None:
            mask = resize_mask(np.asarray(mask, dtype=bool), size, threshold=0.999)
        f = resize_flow(f, size)
    if mask is None:
        xs, ys = sample_coords(f)
        h, w = size
        m = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    else:
        m = np.asarray(mask, dtype=bool)
        if m.shape != size:
            raise TemporalError(f"mask must have shape {f.shape[:2]}, got {m.shape}")
    if not m.any():
        return None
    diff = (cur - warp(prev, f)) ** 2
    return float(diff[m].mean())


def error_summary(errors: Iterable[float | None]) -> dict:
    """``{"mean", "max", "worst_pair", "pairs"}`` of per-pair errors (pair k = frames k, k+1;
    None entries, pairs with no reliable pixel, are skipped but keep their index)."""
    indexed = [(i, float(e)) for i, e in enumerate(errors) if e is not None]
    if not indexed:
        raise TemporalError("errors must hold at least one scored pair")
    worst = max(indexed, key=lambda p: p[1])
    return {
        "mean": float(np.mean([e for _, e in indexed])),
        "max": worst[1],
        "worst_pair": worst[0],
        "pairs": len(indexed),
    }


def _unit_float(image: np.ndarray, name: str) -> np.ndarray:
    image = check_image(image, name)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if not np.issubdtype(image.dtype, np.floating):
        raise TemporalError(f"{name} must be uint8, uint16 or float in [0, 1], got {image.dtype}")
    return image.astype(np.float32, copy=False)


def luma(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 luma in [0, 1] (BT.601 weights) of an RGB or grey frame."""
    x = _unit_float(image, "image")
    if x.ndim == 2:
        return x
    if x.shape[2] == 1:
        return x[:, :, 0]
    if x.shape[2] < 3:
        raise TemporalError(f"image must have 1 or 3 channels, got {x.shape[2]}")
    r, g, b = LUMA
    return r * x[:, :, 0] + g * x[:, :, 1] + b * x[:, :, 2]


def gradient_energy_map(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` float64 squared 3x3 Sobel gradient ``gx^2 + gy^2`` of the luma of ``image``."""
    y = luma(image)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2


def gradient_energy(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared 3x3 Sobel gradient ``gx^2 + gy^2`` of the luma (in [0, 1]) of ``image``;
    with ``mask`` (``(H, W)`` bool, the gradient still taken on the whole frame) the mean over
    the masked pixels only (0.0 for an empty mask)."""
    energy = gradient_energy_map(image)
    if mask is None:
        return float(np.mean(energy))
    keep = np.asarray(mask, dtype=bool)
    if keep.shape != energy.shape:
        raise TemporalError(f"mask must have shape {energy.shape}, got {keep.shape}")
    return float(energy[keep].mean()) if keep.any() else 0.0


def detail_retention(
    steadied: np.ndarray, per_frame: np.ndarray, mask: np.ndarray | None = None
) -> float:
    """``DR = gradient_energy(steadied) / gradient_energy(per_frame)`` of one frame (1 = as
    sharp as the per-frame result, same model, seed and strength; < 1 = softened).

    ``per_frame`` is resized to the size of ``steadied`` (area) when they differ; ``mask``
    (``(H, W)`` bool at ``steadied``'s size) compares the energy inside a region only.
    """
    steadied = check_image(steadied, "steadied")
    per_frame = check_image(per_frame, "per_frame")
    if per_frame.shape[:2] != steadied.shape[:2]:
        h, w = steadied.shape[:2]
        per_frame = cv2.resize(per_frame, (w, h), interpolation=cv2.INTER_AREA)
    ref = gradient_energy(per_frame, mask)
    if ref <= 0.0:
        where = "" if mask is None else " inside the mask"
        raise TemporalError(f"per_frame has no gradient energy{where} (flat); DR is undefined")
    return gradient_energy(steadied, mask) / ref


def structure_ncc(
    output: np.ndarray, source: np.ndarray, *, sigma: float = 2.0, mask: np.ndarray | None = None
) -> float:
    """How much of the source's structure ``output`` keeps: the normalised cross-correlation of
    their blurred gradient magnitudes (3x3 Sobel of the luma, Gaussian ``sigma`` pixels).

    1 = edges in the same places with the same relative strength; about 0 = unrelated (noise
    texture, or a flat frame). ``source`` is resized (area) to ``output``'s size when they
    differ; ``mask`` (``(H, W)``, non-zero = counted) restricts it to a region.
    """
    output = check_image(output, "output")
    source = check_image(source, "source")
    h, w = output.shape[:2]
    if source.shape[:2] != (h, w):
        source = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)

    def magnitude(image: np.ndarray) -> np.ndarray:
        root = np.sqrt(gradient_energy_map(image)).astype(np.float32)
        return gaussian_blur(root, sigma).astype(np.float64)

    a, b = magnitude(output), magnitude(source)
    if mask is not None:
        if mask.shape[:2] != (h, w):
            raise TemporalError(f"mask {mask.shape} must be (H, W) = {(h, w)}")
        keep = np.asarray(mask).reshape(h, w) != 0
        a, b = a[keep], b[keep]
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / norm) if norm > 0 else 0.0


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel to 4 sigma, reflected
    borders), same shape and dtype; ``sigma <= 0`` returns a copy."""
    image = check_image(image, "image")
    if sigma <= 0:
        return image.copy()
    k = 2 * int(np.ceil(4.0 * sigma)) + 1
    out = cv2.GaussianBlur(image, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)


def blur_matched_sigma(
    frames: Sequence[np.ndarray],
    target_energy: float,
    *,
    max_sigma: float = 8.0,
    tol: float = 1e-3,
) -> float:
    """The Gaussian sigma that brings the mean gradient energy of ``frames`` down to
    ``target_energy`` (bisection; energy falls monotonically with sigma).

    Args:
        frames: per-frame outputs, ``(H, W, 3)`` uint8 or float.
        target_energy: the mean ``gradient_energy`` of the steadied output.
        max_sigma: upper end of the search (returned when even it is not blurry enough).
        tol: stop when the bracket is narrower than this many pixels.

    Returns:
        0.0 when ``frames`` are already at or below the target, else sigma in (0, max_sigma].
        The blur is applied to the frames as stored (uint8 results are rounded), so
        ``gaussian_blur`` with this sigma reproduces the matched energy.
    """
    frames = list(frames)
    if not frames:
        raise TemporalError("frames must hold at least one frame")
    if not target_energy >= 0:
        raise TemporalError(f"target_energy must be >= 0, got {target_energy!r}")

    def energy(sigma: float) -> float:
        return float(np.mean([gradient_energy(gaussian_blur(f, sigma)) for f in frames]))

    if energy(0.0) <= target_energy:
        return 0.0
    if energy(max_sigma) >= target_energy:
        return float(max_sigma)
    lo, hi = 0.0, float(max_sigma)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if energy(mid) > target_energy:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def psnr(a: np.ndarray, b: np.ndarray, *, peak: float | None = None) -> float:
    """PSNR in dB between two images of the same shape (``peak`` = 255 for uint8, 65535 for
    uint16, 1 for floats unless given); identical images give ``inf``."""
    a, b = check_image(a, "a"), check_image(b, "b")
    if a.shape != b.shape:
        raise TemporalError(f"a {a.shape} and b {b.shape} must have the same shape")
    if peak is None:
        peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(peak**2 / mse))
