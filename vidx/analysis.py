"""Per-frame temporal analysis on the source: flow, consistency mask, scene cuts, keyframes.

Computed once per frame pair at an analysis resolution and shared by every stage and every
output of a job (see docs/DESIGN.md, Data flow). The options are
:class:`vidx.options.AnalysisOptions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from vidx.frame import Frame, FrameContext
from vidx.options import AnalysisOptions


def analysis_frame(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale ``rgb`` so its long side is at most ``long_side`` (INTER_AREA)."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return rgb
    return cv2.resize(
        rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA
    )


class Analyzer:
    """Turns each frame, in order, into its :class:`FrameContext`."""

    def __init__(self, options: AnalysisOptions | None = None, raft_state: Any = None) -> None:
        """``options`` None computes nothing: every frame is a keyframe. ``raft_state`` is the
        RAFT model already loaded (see :func:`vidx.weights.load_raft_model`)."""
        self.options = options or AnalysisOptions()
        self.raft_state = raft_state
        self.scheduler = None
        if options is not None:
            import temporal  # torch comes with it: only jobs that need flow pay the import

            self.scheduler = temporal.KeyframeScheduler(options.keyframe_interval)
        self._prev: np.ndarray | None = None
        self.cuts = 0
        self.first = 0  # job index of the reader's frame 0: periodic keyframes count job frames
        self.cut_first = False  # the first frame is a scene cut (a segment starting at one)

    def reset(self) -> None:
        if self.scheduler is not None:
            self.scheduler.reset()
        self._prev = None

    def __call__(self, frame: Frame) -> FrameContext:
        if self.scheduler is None:
            return FrameContext(frame.index, frame.rgb, keyframe=True)
        small = analysis_frame(frame.rgb, self.options.analysis_size)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            self.scheduler.is_keyframe(frame.index + self.first, True)
            cut = prev is not None or self.cut_first
            return FrameContext(frame.index, frame.rgb, keyframe=True, scene_cut=cut)
        import temporal

        cut = self.options.scene_cuts and temporal.is_scene_cut(prev, small)
        self.cuts += int(cut)
        keyframe = self.scheduler.is_keyframe(frame.index + self.first, cut)
        if cut:  # only a scene cut starts fresh: nothing before it is worth following
            return FrameContext(frame.index, frame.rgb, keyframe=True, scene_cut=True)
        # a periodic keyframe keeps its flow, so a backend can tie it to what came before
        method, weights = self.options.flow, self.raft_state or self.options.raft_weights
        preset = self.options.flow_preset
        back = temporal.flow(small, prev, method, preset=preset, raft_weights=weights)
        fwd = temporal.flow(prev, small, method, preset=preset, raft_weights=weights)
        mask = temporal.consistency_mask(back, fwd)
        return FrameContext(frame.index, frame.rgb, keyframe=keyframe, flow=back, mask=mask)


def scene_cuts(frames: Iterable[np.ndarray], options: AnalysisOptions) -> list[int]:
    """Indices of the frames an :class:`Analyzer` with ``options`` sees as scene cuts, from the
    8-bit frames it would see (the same sizes and test: a plan made from this agrees with it)."""
    if not options.scene_cuts:
        return []
    import temporal

    cuts, prev = [], None
    for i, rgb in enumerate(frames):
        small = analysis_frame(rgb, options.analysis_size)
        if prev is not None and (prev.shape != small.shape or temporal.is_scene_cut(prev, small)):
            cuts.append(i)
        prev = small
    return cuts
