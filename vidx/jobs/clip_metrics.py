"""``vidx metrics``: judge any processed clip against its source with the shared ruler.

Warping error (DESIGN.md "Metrics") with DIS flow and masks from the *source*, mean and worst
pair; with a ``reference`` (the per-frame render of the same model, seed and strength) also
detail retention ``DR_t`` (gradient energy of the output over the reference's, minimum and
mean over frames) and PSNR to the reference. Every clip is decoded in streaming fashion.

With a reference the same figures are also given per region of the frame
(``temporal.motion_regions``, labelled from the source's flows: ``moving`` = moved on its own
within the last 6 frames, ``uncovered``, ``entering``, ``background``), so a whole-frame mean
cannot hide a smeared moving subject.

An output larger than its source (an upscale) is also judged at its own size (``shimmer``,
``temporal.shimmer``): the flow from the Lanczos upscale of the source, the output's warping
error beside that Lanczos upscale's (and the reference's, with one), since at the source's
size the texture an upscaler re-invents on every frame is averaged away.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

import temporal
from temporal.motion_regions import MOTION_WINDOW
from temporal.shimmer import lanczos_baseline, shimmer_pair
from vidx.errors import InputError
from vidx.io.reader import Reader, Trim


def _frames(path: Path, max_frames: int | None, counter: list[int]) -> Iterator[np.ndarray]:
    with Reader(path, Trim(max_frames=max_frames), copy_streams=False) as reader:
        for frame in reader.frames():
            counter[0] += 1
            yield frame.rgb


def _to_size(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    if image.shape[:2] == like.shape[:2]:
        return image
    h, w = like.shape[:2]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


class _RegionFigures:
    """Regions of each frame t >= 1 from the source's flows (``moving`` = moved within the last
    ``MOTION_WINDOW`` frames) and their figures for the output and the reference, all at the
    source's size except detail retention (at the output's)."""

    def __init__(self) -> None:
        self.meter = temporal.RegionMeter()
        self.moving: deque[np.ndarray] = deque(maxlen=MOTION_WINDOW)

    def add(self, t: int, flows: tuple[np.ndarray, ...], prev: tuple, cur: tuple) -> None:
        """``flows`` = (back, fwd, trusted) of pair (t-1, t); ``prev``/``cur`` = (source,
        output, reference) frames t-1 and t (reference None when it ran out)."""
        back, fwd, trusted = flows
        labels = temporal.region_labels(back, fwd)
        self.moving.append(labels["moving"])
        regions = temporal.with_moving(labels, np.logical_or.reduce(list(self.moving)))
        if cur[2] is None or prev[2] is None:
            return
        src = cur[0]

        def errors(a: np.ndarray, b: np.ndarray) -> dict:
            a, b = _to_size(a, src), _to_size(b, src)
            return temporal.region_warp_errors(a, b, back, regions, trusted=trusted)

        self.meter.add(
            t,
            temporal.region_shares(regions),
            errors=errors(prev[1], cur[1]),
            reference_errors=errors(prev[2], cur[2]),
            detail=temporal.region_detail_retention(cur[1], cur[2], regions),
        )


class _Shimmer:
    """Warping errors at the output's size of an upscale: the output's, the Lanczos upscale's
    of the source, and the reference's (with one), pair by pair."""

    def __init__(self) -> None:
        self.errors: dict[str, list[float | None]] = {"output": [], "lanczos": [], "reference": []}

    def add(self, prev: tuple, cur: tuple) -> None:
        """Pair (t-1, t) of (source, output, reference) frames; only an upscale counts."""
        if not _bigger(cur[1], cur[0]) or prev[1].shape != cur[1].shape:
            return
        size = cur[1].shape[:2]
        base_prev = lanczos_baseline(prev[0], size)
        base_cur = lanczos_baseline(cur[0], size)
        pairs = [(prev[1], cur[1])]
        if prev[2] is not None and cur[2] is not None:
            pairs.append((prev[2], cur[2]))
        lanczos, each = shimmer_pair(base_prev, base_cur, pairs)
        self.errors["lanczos"].append(lanczos)
        self.errors["output"].append(each[0])
        self.errors["reference"].append(each[1] if len(each) > 1 else None)

    def summary(self) -> dict | None:
        """None when no pair was an upscale; else ``warp_error``, ``warp_error_max`` and
        ``worst_pair`` at the output's size (flow from the Lanczos upscale of the source),
        ``lanczos_warp_error`` (that upscale's own), ``ratio`` (output over Lanczos) and, with
        a reference, ``reference_ratio`` (the reference over Lanczos)."""
        scored = [i for i, e in enumerate(self.errors["output"]) if e is not None]
        if not scored:
            return None
        out = temporal.error_summary(self.errors["output"])
        lanczos = float(np.mean([self.errors["lanczos"][i] or 0.0 for i in scored]))
        result = {
            "warp_error": out["mean"],
            "warp_error_max": out["max"],
            "worst_pair": out["worst_pair"] + 1,
            "lanczos_warp_error": lanczos,
            "ratio": out["mean"] / lanczos if lanczos > 0 else None,
        }
        refs = [self.errors["reference"][i] for i in scored]
        if all(r is not None for r in refs) and lanczos > 0:
            result["reference_ratio"] = float(np.mean(refs)) / lanczos  # type: ignore[arg-type]
        return result


def _bigger(output: np.ndarray, source: np.ndarray) -> bool:
    return output.shape[0] > source.shape[0] and output.shape[1] > source.shape[1]


def _pair_error(prev: tuple, cur: tuple, flows: tuple[np.ndarray, ...]) -> float | None:
    """``temporal.pair_warp_error`` of the outputs, with the source flows already computed."""
    back, _, trusted = flows
    o_prev, o_cur = _to_size(prev[1], cur[0]), _to_size(cur[1], cur[0])
    return temporal.exact_pair_warp_error(o_prev, o_cur, back, mask=trusted)


def _check_counts(source: tuple, output: tuple, errors: list[float | None]) -> None:
    """Raise unless both clips (``(path, frames)``) have 2 frames and some pair was scored."""
    for path, count in (source, output):
        if count < 2:
            raise InputError(
                f"{path} has {count} frame{'' if count == 1 else 's'}; a warping error needs "
                "at least 2 frames"
            )
    if not any(e is not None for e in errors):
        raise InputError(
            f"{source[0]} has no trackable motion between its frames; the warping error needs "
            "some (a still or blank clip has none)"
        )


def clip_metrics(
    source: str | Path,
    output: str | Path,
    *,
    max_frames: int | None = None,
    reference: str | Path | None = None,
) -> dict:
    """Warping error of ``output`` with flow and masks from ``source``; with ``reference``, also
    detail retention and fidelity to it. Frames are paired in order and the counts reported.

    Returns:
        ``warp_error`` (mean over pairs), ``warp_error_max`` (worst pair), ``worst_pair``
        (index t of the worst pair (t-1, t)), ``source_frames``, ``output_frames``, ``pairs``;
        with ``reference`` also ``reference_frames``, ``detail_retention_min``,
        ``detail_retention_mean``, ``detail_retention_worst_frame`` (index of the minimum)
        and ``psnr_db`` (mean over frames of the PSNR to the reference, resized to the
        output's size), and ``regions``: for each of ``moving``, ``uncovered``,
        ``entering``, ``background`` (see ``temporal.RegionMeter``) its ``share`` of the frame,
        the ``pairs`` and ``frames`` used (a region under 0.2 % of a frame is skipped there),
        ``warp_error``, ``warp_error_max``, ``worst_pair``, ``reference_warp_error`` and
        ``warp_error_ratio`` (output over reference, in that region, where the source flow is
        trusted: so None for uncovered and entering), ``detail_retention_min``,
        ``detail_retention_mean`` and ``detail_retention_worst_frame``; an upscale also has
        ``shimmer`` (:meth:`_Shimmer.summary`).

    Raises:
        InputError: a clip with fewer than 2 frames, or no pair with trackable motion.
    """
    src_count, out_count, ref_count = [0], [0], [0]
    src = _frames(Path(source), max_frames, src_count)
    res = _frames(Path(output), max_frames, out_count)
    ref = _frames(Path(reference), max_frames, ref_count) if reference is not None else None
    errors: list[float | None] = []
    drs: list[float] = []
    psnrs: list[float] = []
    regions = _RegionFigures() if ref is not None else None
    shimmer = _Shimmer()
    prev: tuple | None = None
    for t, (s, o) in enumerate(zip(src, res, strict=False)):
        r = None if ref is None else next(ref, None)
        r = None if r is None else _to_size(r, o)
        cur = (s, o, r)
        if prev is not None:
            back, fwd = temporal.source_flows(prev[0], s)
            flows = (back, fwd, temporal.consistency_mask(back, fwd))
            errors.append(_pair_error(prev, cur, flows))
            if regions is not None:
                regions.add(t, flows, prev, cur)
            shimmer.add(prev, cur)
        prev = cur
        if r is not None:
            drs.append(temporal.detail_retention(o, r))
            psnrs.append(min(temporal.psnr(o, r), 100.0))
    for _ in itertools.chain(src, res, ref or ()):  # drain each side: the counts are complete
        pass
    _check_counts((source, src_count[0]), (output, out_count[0]), errors)
    summary = temporal.error_summary(errors)
    result: dict = {
        "warp_error": summary["mean"],
        "warp_error_max": summary["max"],
        "worst_pair": summary["worst_pair"] + 1,
        "source_frames": src_count[0],
        "output_frames": out_count[0],
        "pairs": max(0, min(src_count[0], out_count[0]) - 1),
    }
    result.update({"shimmer": upscale} if (upscale := shimmer.summary()) else {})
    if ref is not None:
        result["reference_frames"] = ref_count[0]
        if drs:
            worst = int(np.argmin(drs))
            result.update(
                detail_retention_min=float(drs[worst]),
                detail_retention_mean=float(np.mean(drs)),
                detail_retention_worst_frame=worst,
                psnr_db=float(np.mean(psnrs)),
            )
        if regions is not None:
            result["regions"] = regions.meter.summary()
    return result
