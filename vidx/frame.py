"""What moves between stages: a decoded frame and the per-frame temporal context."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np


@dataclass
class Frame:
    """One decoded video frame.

    ``rgb`` is ``(H, W, 3)`` uint8, or uint16 (full 16-bit scale) from a ``deep`` reader of a
    source deeper than 8 bits (display orientation, rotation already applied). A reader
    asked for ``decoded`` frames (a straight transcode: no pixel is changed) leaves ``rgb``
    empty ``(0, 0, 3)`` and hands the decoded ``av.VideoFrame`` in ``decoded`` instead.
    ``pts`` is the source timestamp in ``time_base`` units (shifted so a trimmed clip starts
    near 0); ``index`` counts frames from 0 in output order.
    """

    rgb: np.ndarray
    pts: int | None
    time_base: Fraction
    index: int
    decoded: Any = None

    @property
    def time(self) -> float:
        return float((self.pts or 0) * self.time_base)


@dataclass
class FrameContext:
    """Temporal facts about frame ``index``, computed once on the *source* frames.

    Convention: ``flow`` has shape ``(h, w, 2)`` float32 at the analysis resolution, in pixels
    of that resolution; for every pixel p of the current source frame, ``p + flow[p]`` is where it
    sits in the previous source frame, so ``temporal.warp(prev_output, flow)`` aligns the previous
    output to the current frame (resize the flow first with ``temporal.resize_flow``).
    ``mask`` is ``(h, w)`` bool, True where ``flow`` is reliable (not occluded, no motion
    boundary). Both are None on frame 0, at scene cuts and without analysis; a periodic keyframe
    has them (a backend may tie it to the frames before it, or ignore them).
    ``region`` (an output's own, see :mod:`vidx.regions`) is ``(H, W)`` float32 at the source
    frame's size: 1 where the output is restyled, 0 where the source is kept; None: everywhere.
    """

    index: int
    source: np.ndarray
    keyframe: bool
    scene_cut: bool = False
    flow: np.ndarray | None = None
    mask: np.ndarray | None = None
    region: np.ndarray | None = None
