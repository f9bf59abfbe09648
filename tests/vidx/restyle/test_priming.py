"""A segment's restyler sees job frame numbers (a prompt schedule counts them)."""

from __future__ import annotations

import numpy as np

from vidx.analysis import Analyzer
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


def job_analyzer() -> Analyzer:
    return Analyzer(AnalysisOptions())


def test_a_primed_segment_is_numbered_from_the_job_start() -> None:
    frames = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(5)]
    inner = Recorder()
    # as vidx.jobs.segments.segment_outputs builds it: the warm-up numbered in the job, then the
    # segment's own frames (numbered from 0 by its reader) renumbered
    primed = Renumbered(PrimedRestyler(inner, frames[:3], job_analyzer, first=37), 40)
    primed.reset()
    for i, f in enumerate(frames[3:]):
        primed(f, FrameContext(i, f, keyframe=i == 0))
    assert inner.seen == [37, 38, 39, 40, 41]  # warm-up frames 37-39, then the segment's 40, 41
    assert primed.describe() == {"name": "recorder"}


def test_a_shared_anchor_is_frame_0_before_the_warm_up() -> None:
    frames = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(6)]
    inner = Recorder()
    primed = Renumbered(
        PrimedRestyler(inner, frames[1:4], job_analyzer, anchor=frames[0], first=37), 40
    )
    primed.reset()
    primed(frames[4], FrameContext(0, frames[4], keyframe=True))
    assert inner.seen == [0, 37, 38, 39, 40]
