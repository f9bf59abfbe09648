"""``vidx metrics``: judge any processed clip against its source with the shared ruler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

import temporal
from vidx.io.reader import Reader, Trim


def _frames(path: Path, max_frames: int | None, counter: list[int]) -> Iterator[np.ndarray]:
    with Reader(path, Trim(max_frames=max_frames), copy_streams=False) as reader:
        for frame in reader.frames():
            counter[0] += 1
            yield frame.rgb


def clip_metrics(source: str | Path, output: str | Path, *, max_frames: int | None = None) -> dict:
    """Warping error of ``output`` with flow and masks from ``source`` (both decoded in
    streaming fashion; frames are paired in order, and the counts reported)."""
    src_count, out_count = [0], [0]
    src = _frames(Path(source), max_frames, src_count)
    res = _frames(Path(output), max_frames, out_count)
    error = temporal.warp_error(src, res)
    # drain what one side has left so both counts are complete
    for _ in src:
        pass
    for _ in res:
        pass
    return {
        "warp_error": float(error),
        "source_frames": src_count[0],
        "output_frames": out_count[0],
        "pairs": max(0, min(src_count[0], out_count[0]) - 1),
    }
