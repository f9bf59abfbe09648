"""A segment's restyler sees job frame numbers (a prompt schedule counts them)."""

from __future__ import annotations

import numpy as np

from vidx.frame import FrameContext
from vidx.options import AnalysisOptions
from vidx.restyle.priming import PrimedRestyler, Renumbered


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        self.seen.append(ctx.index)
        return image

    def reset(self) -> None:
        self.seen = []

    def describe(self) -> dict:
        return {"name": self.name}


def test_a_primed_segment_is_numbered_from_the_job_start() -> None:
    frames = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(5)]
    inner = Recorder()
    primed = PrimedRestyler(Renumbered(inner, 40), frames[:3], AnalysisOptions())
    primed.reset()
    for i, f in enumerate(frames[3:]):
        primed(f, FrameContext(i, f, keyframe=i == 0))
    assert inner.seen == [37, 38, 39, 40, 41]  # warm-up frames 37-39, then the segment's 40, 41
    assert primed.describe() == {"name": "recorder"}
