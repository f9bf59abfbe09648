"""``vidx metrics``: judge any processed clip against its source with the shared ruler.

Warping error (DESIGN.md "Metrics") with DIS flow and masks from the *source*, mean and worst
pair; with a ``reference`` (the per-frame render of the same model, seed and strength) also
detail retention ``DR_t`` (gradient energy of the output over the reference's, minimum and
mean over frames) and PSNR to the reference. Every clip is decoded in streaming fashion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

import temporal
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
        output's size).

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
    prev: tuple[np.ndarray, np.ndarray] | None = None
    for s, o in zip(src, res, strict=False):
        if prev is not None:
            errors.append(temporal.pair_warp_error(prev[0], s, prev[1], o))
        prev = (s, o)
        if ref is not None:
            r = next(ref, None)
            if r is not None:
                r = _to_size(r, o)
                drs.append(temporal.detail_retention(o, r))
                psnrs.append(min(temporal.psnr(o, r), 100.0))
    # drain what each side has left so the counts are complete
    for it in (src, res) if ref is None else (src, res, ref):
        for _ in it:
            pass
    for path, count in ((source, src_count[0]), (output, out_count[0])):
        if count < 2:
            raise InputError(
                f"{path} has {count} frame{'' if count == 1 else 's'}; a warping error needs "
                "at least 2 frames"
            )
    if not any(e is not None for e in errors):
        raise InputError(
            f"{source} has no trackable motion between its frames; the warping error needs "
            "some (a still or blank clip has none)"
        )
    summary = temporal.error_summary(errors)
    result: dict = {
        "warp_error": summary["mean"],
        "warp_error_max": summary["max"],
        "worst_pair": summary["worst_pair"] + 1,
        "source_frames": src_count[0],
        "output_frames": out_count[0],
        "pairs": max(0, min(src_count[0], out_count[0]) - 1),
    }
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
    return result
