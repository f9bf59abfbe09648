"""Shimmer of an upscale: the warping error at the *output* size, against a Lanczos baseline.

``temporal.metrics`` judges an output at the source's size (an upscale is area-shrunk first),
which averages away the texture an upscaler re-invents on every frame. Here the pair is judged
at the output's size: the flow and its consistency mask come from the Lanczos upscale of the
source (``baseline``: an upscale that invents nothing, so its own warping error is what grain and
the flow's errors cost at that size), and the output's warping error is set beside the
baseline's. A ratio at or under 1 is an upscale no less steady than Lanczos.

Convention: frames ``(H, W, 3)`` uint8 at the output size; the flow is DIS (``"fine"``) at a
long side of at most 1024 px, resized back (``temporal.metrics.source_flows``).
"""

from __future__ import annotations

import cv2
import numpy as np

from temporal._checks import check_image, check_size
from temporal.errors import TemporalError
from temporal.metrics import exact_pair_warp_error, source_flows
from temporal.occlusion import consistency_mask


def lanczos_baseline(source: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``source`` ``(h, w, 3)`` uint8 resized to ``size = (H, W)`` with Lanczos (area when it
    shrinks)."""
    source = check_image(source, "source")
    h, w = check_size(size)
    if source.shape[:2] == (h, w):
        return source
    grows = h >= source.shape[0] and w >= source.shape[1]
    method = cv2.INTER_LANCZOS4 if grows else cv2.INTER_AREA
    return np.asarray(cv2.resize(source, (w, h), interpolation=method))


def shimmer_pair(
    base_prev: np.ndarray,
    base_cur: np.ndarray,
    outputs: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[float | None, list[float | None]]:
    """Warping errors of one pair at the output size: ``(baseline's, [each output's])``.

    Args:
        base_prev, base_cur: ``(H, W, 3)`` uint8 Lanczos upscales of source frames t-1 and t
            (:func:`lanczos_baseline`); their flow and mask judge every output.
        outputs: ``(prev, cur)`` pairs of ``(H, W, 3)`` uint8 outputs at the same size.

    Returns:
        The baseline's error and each output's (None where no pixel is reliable).
    """
    base_prev = check_image(base_prev, "base_prev")
    base_cur = check_image(base_cur, "base_cur")
    if base_prev.shape != base_cur.shape:
        raise TemporalError(f"base_prev {base_prev.shape} and base_cur {base_cur.shape} differ")
    for prev, cur in outputs:
        for frame in (prev, cur):
            if check_image(frame, "outputs").shape != base_cur.shape:
                raise TemporalError(
                    f"outputs must have the baseline's shape {base_cur.shape}, got {frame.shape}"
                )
    back, fwd = source_flows(base_prev, base_cur)
    mask = consistency_mask(back, fwd)
    base = exact_pair_warp_error(base_prev, base_cur, back, mask=mask)
    return base, [exact_pair_warp_error(p, c, back, mask=mask) for p, c in outputs]
