"""Per-frame temporal analysis on the source: flow, consistency mask, scene cuts, keyframes.

Computed once per frame pair at an analysis resolution and shared by every stage and every
output of a job (see DESIGN.md, Data flow).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from vidx.errors import OptionError
from vidx.frame import Frame, FrameContext

FLOW_METHODS = ("dis", "farneback", "raft")
# temporal.DIS_PRESETS, named here so a job without analysis never imports torch (checked by
# tests/vidx/test_analysis.py)
FLOW_PRESETS = ("ultrafast", "fast", "medium", "fine")


@dataclass(frozen=True)
class AnalysisOptions:
    """``enabled`` False skips flow entirely (every frame is a keyframe, e.g. a plain upscale)."""

    enabled: bool = True
    flow_method: str = "dis"
    flow_preset: str = "medium"
    analysis_size: int = 640
    keyframe_interval: int = 0
    scene_cuts: bool = True
    raft_weights: str | None = None

    def __post_init__(self) -> None:
        if self.flow_method not in FLOW_METHODS:
            raise OptionError(
                f"--flow must be one of {', '.join(FLOW_METHODS)}, got {self.flow_method!r}"
            )
        if self.flow_preset not in FLOW_PRESETS:
            raise OptionError(
                f"--flow-preset must be one of {', '.join(FLOW_PRESETS)}, got {self.flow_preset!r}"
            )
        if not 64 <= self.analysis_size <= 4096:
            raise OptionError(
                f"--analysis-size must be 64 to 4096 pixels, got {self.analysis_size}"
            )
        if self.keyframe_interval < 0:
            raise OptionError(f"--keyframe-interval must be >= 0, got {self.keyframe_interval}")

    def to_dict(self) -> dict:
        return asdict(self)


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

    def __init__(self, options: AnalysisOptions = AnalysisOptions()) -> None:
        self.options = options
        self.scheduler = None
        if options.enabled:
            import temporal  # torch comes with it: only jobs that need flow pay the import

            self.scheduler = temporal.KeyframeScheduler(options.keyframe_interval)
        self._prev: np.ndarray | None = None
        self.cuts = 0

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
            self.scheduler.is_keyframe(frame.index, True)
            return FrameContext(frame.index, frame.rgb, keyframe=True, scene_cut=prev is not None)
        import temporal

        cut = self.options.scene_cuts and temporal.is_scene_cut(prev, small)
        self.cuts += int(cut)
        if self.scheduler.is_keyframe(frame.index, cut):
            return FrameContext(frame.index, frame.rgb, keyframe=True, scene_cut=cut)
        method, weights = self.options.flow_method, self.options.raft_weights
        preset = self.options.flow_preset
        back = temporal.flow(small, prev, method, preset=preset, raft_weights=weights)
        fwd = temporal.flow(prev, small, method, preset=preset, raft_weights=weights)
        mask = temporal.consistency_mask(back, fwd)
        return FrameContext(frame.index, frame.rgb, keyframe=False, flow=back, mask=mask)
