"""Tiles a per-frame transform must run (``temporal.tiles``) and the shimmer ruler
(``temporal.shimmer``)."""

from __future__ import annotations

import numpy as np
import pytest

from temporal.errors import TemporalError
from temporal.shimmer import lanczos_baseline, shimmer_pair
from temporal.tiles import output_box, tile_boxes, tiles_to_run


def test_tile_boxes_cover_the_frame_once() -> None:
    boxes = tile_boxes((100, 130), 64)
    cover = np.zeros((100, 130), int)
    for y0, y1, x0, x1 in boxes:
        cover[y0:y1, x0:x1] += 1
    assert len(boxes) == 2 * 3 and (cover == 1).all()
    assert tile_boxes((100, 130), 0) == [(0, 100, 0, 130)]
    with pytest.raises(TemporalError, match="tile"):
        tile_boxes((100, 130), -1)


def test_a_tile_runs_where_its_output_is_not_held() -> None:
    boxes = tile_boxes((40, 80), 40)  # two tiles side by side
    remaining = np.zeros((80, 160), np.float32)  # output at x2
    assert tiles_to_run(remaining, boxes, (40, 80), 0.02) == [False, False]
    remaining[10, 100] = 0.5  # one output pixel of the right tile is not held
    assert tiles_to_run(remaining, boxes, (40, 80), 0.02) == [False, True]
    assert tiles_to_run(None, boxes, (40, 80), 0.02) == [True, True]
    assert output_box(boxes[1], (40, 80), (80, 160)) == (0, 80, 80, 160)
    with pytest.raises(TemporalError, match="remaining"):
        tiles_to_run(np.zeros((2, 2, 2)), boxes, (40, 80), 0.02)


def test_shimmer_is_judged_at_the_output_size_against_lanczos() -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
    shifted = np.roll(small, 1, axis=1)
    base = [lanczos_baseline(f, (96, 128)) for f in (small, shifted)]
    steady = [np.roll(base[0], 4 * k, axis=1) for k in (0, 1)]  # follows the motion exactly
    noisy = [np.clip(b + rng.normal(0, 20, b.shape), 0, 255).astype(np.uint8) for b in base]
    lanczos, (e_steady, e_noisy) = shimmer_pair(base[0], base[1], [steady, noisy])
    assert lanczos is not None and e_steady is not None and e_noisy is not None
    assert e_noisy > 5 * lanczos and e_steady <= 1.5 * lanczos
    with pytest.raises(TemporalError, match="baseline's shape"):
        shimmer_pair(base[0], base[1], [(small, small)])
