"""Prime a restyler for a segment that starts mid-clip: replay the frames before it.

A segment rendered on its own (after a resume, or on another worker) would otherwise start
fresh, and its first frame would pop against the last frame of the segment before. Here the
restyler's temporal state (the previous output of the style backend, the previous latent and
anchor of the diffusion backend) and an analyzer of its own are set up by running the ``K``
source frames before the segment's start through them (rendered, never written); the segment's
first frame then gets the flow from the last of them, so the seam pair is treated like any
other pair. The warm-up run is the same whichever worker renders the segment, so a job gives
the same frames with any number of workers.

A warm-up alone is not enough for a backend whose look is set by its first frame: the diffusion
backend's anchor (cross-frame attention, x̂0 fusion reference, colour) would become the first
warm-up frame, rendered fresh, and the segment would keep a look of its own (docs/SCALING.md).
So when the warm-up does not reach back to the job's first frame, that frame (the **shared
anchor**) is rendered first, fresh, exactly as the long run renders it; the warm-up frames are
then tied to it by the flow from it, and every segment carries the same anchor. The frames keep
their indices in the job, so periodic keyframes fall where they fall in one long run.

Convention: ``frames`` are ``(H, W, 3)`` uint8, in display order, the ones just before the
segment's first frame (as many as the clip has, up to ``K``). The layer that runs the job
decodes them and hands them over with a way to make a fresh analyzer
(:func:`vidx.jobs.segments.segment_outputs`); nothing here reads a file or knows how flow is found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction

import numpy as np

from vidx.frame import Frame, FrameContext
from vidx.restyle.base import Restyler, Wrapped

Analyze = Callable[[Frame], FrameContext]  # a fresh analyzer: a frame in, its context out


class PrimedRestyler(Wrapped):
    """Wraps a restyler so that :meth:`reset` (called by the pipeline before a segment's first
    frame) replays ``anchor`` (when given) and ``frames`` through it, and the first frame after
    them is tied to the last.

    ``analyzer()`` makes a fresh analyzer, which must be the job's own (the same flow method,
    sizes and keyframe rules), so a primed segment sees what one long run would; ``first`` is
    the job index of ``frames[0]`` (the anchor is index 0).
    """

    def __init__(
        self,
        inner: Restyler,
        frames: list[np.ndarray],
        analyzer: Callable[[], Analyze],
        anchor: np.ndarray | None = None,
        first: int = 0,
    ) -> None:
        super().__init__(inner)
        self.frames = frames
        self.anchor = anchor
        self.first = first
        self.new_analyzer = analyzer
        self._analyzer: Analyze | None = None
        self._seam = False

    def reset(self) -> None:
        """Forget everything, then run the warm-up frames (their results are dropped)."""
        self.inner.reset()
        self._analyzer = self.new_analyzer()
        if self.anchor is not None:
            self.inner(self.anchor, self._analyzer(Frame(self.anchor, None, Fraction(1), 0)))
        for i, rgb in enumerate(self.frames, start=self.first):
            self.inner(rgb, self._analyzer(Frame(rgb, None, Fraction(1), i)))
        self._seam = bool(self.frames)

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        if self._seam and self._analyzer is not None:
            self._seam = False
            if ctx.flow is None and not ctx.scene_cut:  # the segment's own analysis has no past
                index = self.first + len(self.frames)
                seam = self._analyzer(Frame(image, None, Fraction(1), index))
                ctx = replace(
                    ctx,
                    keyframe=seam.scene_cut,
                    scene_cut=seam.scene_cut,
                    flow=seam.flow,
                    mask=seam.mask,
                )
        return self.inner(image, ctx)


class Renumbered(Wrapped):
    """Wraps a restyler so that the frames of a segment starting at job frame ``first`` reach
    it numbered as in the whole job (``ctx.index + first``): a prompt schedule's keys count
    job frames, and a segment's reader counts from 0."""

    def __init__(self, inner: Restyler, first: int) -> None:
        super().__init__(inner)
        self.first = first

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        return self.inner(image, replace(ctx, index=ctx.index + self.first))
