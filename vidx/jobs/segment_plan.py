"""How a job is cut into segments: THE segment planner (:func:`plan_job`) for local runs and
Ray alike, and the small rules both executors share (which segment goes on from which).

Convention: segment k holds the planned frames ``[first, first + frames)`` of the trimmed clip;
boundaries sit every ``segment_frames`` frames, moved to a scene cut (a carried diffusion job)
or a source keyframe when one lies within a quarter segment (so seeking to a segment costs no
extra decoding). Rendering, recording and resuming them is :mod:`vidx.jobs.segments`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidx.analysis import scene_cuts
from vidx.errors import OptionError
from vidx.frame import Frame
from vidx.io.images import to_uint8
from vidx.io.reader import Reader, Trim
from vidx.io.remux import FrameScan, scan_frames
from vidx.options import AnalysisOptions, RunOptions
from vidx.pipeline import JobContext, Output, say_phase
from vidx.upscale.classic import ClassicUpscaler

# .mov for every segment, whatever the output: it stores dts (Matroska does not, and the remux
# needs them); AV1, which the mov muxer refuses, goes into .mp4 (same muxer family)
SEGMENT_SUFFIX = ".mov"
STATE_SUFFIX = ".state"  # a carried segment's end state (vidx.jobs.state), read by the next one
MIN_SIDE_BY_SIDE_FRAMES = 12  # a short clip is not cut finer than this for parallel encoders


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, first + frames)`` of the job; ``start``/``end`` are the source times
    (seconds) of its first frame and of the frame after its last (None: end of file)."""

    index: int
    first: int
    frames: int
    start: float
    end: float | None
    warmup_start: float | None = None  # source time of its first warm-up frame (None: none)
    anchor_start: float | None = None  # source time of the job's first frame, when the warm-up
    # does not reach back to it (see vidx.restyle.priming)
    at_cut: bool = False  # its first frame is a scene cut: a carried segment starts fresh there

    @property
    def trim(self) -> Trim:
        duration = None if self.end is None else self.end - self.start
        return Trim(start=self.start, duration=duration, rebase=False)

    @property
    def file(self) -> str:
        return f"seg{self.index:05d}{SEGMENT_SUFFIX}"

    @property
    def state_file(self) -> str:
        return f"seg{self.index:05d}{STATE_SUFFIX}"


def plan_segments(
    scan: FrameScan, segment_frames: int, warmup: int = 0, cuts: Sequence[int] = ()
) -> list[Segment]:
    """Cut the scanned frames into segments of about ``segment_frames``, snapping each boundary
    to the nearest scene cut (of ``cuts``, frame indices) within a quarter segment, else to the
    nearest source keyframe there; each segment but the first gets the time of the frame
    ``warmup`` frames before it, and the time of the job's first frame (its anchor) when the
    warm-up does not reach back to it (see :mod:`vidx.restyle.priming`). Every cut starts a
    segment of its own when ``cuts`` are given (there a carried job needs no state)."""
    if segment_frames < 1:
        raise OptionError(f"must be >= 1, got {segment_frames}", param="segment_frames")
    n = len(scan.times)
    reach = segment_frames // 4
    keys = scan.keyframes
    bounds = [0]
    for nominal in range(segment_frames, n, segment_frames):
        near = [k for k in cuts if abs(k - nominal) <= reach]
        near = near or [k for k in keys if abs(k - nominal) <= reach]
        b = min(near, key=lambda k: (abs(k - nominal), k)) if near else nominal
        if bounds[-1] < b < n:
            bounds.append(b)
    bounds = sorted(set(bounds) | {c for c in cuts if 0 < c < n}) + [n]
    segments = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        end = scan.times[b] if b < n else scan.after
        warm = scan.times[max(0, a - warmup)] if a > 0 and warmup > 0 else None
        anchor = scan.times[0] if warm is not None and a > warmup else None
        segments.append(Segment(i, a, b - a, scan.times[a], end, warm, anchor, a in cuts))
    return segments


@dataclass(frozen=True)
class JobKind:
    """What the segment planner needs to know of a job's outputs: its restylers' names and
    whether no model runs (only classical resamplers). The same from the built outputs, from
    the descriptions Ray workers send back, or from the options alone (``--plan``)."""

    restylers: tuple[str, ...] = ()
    stateless: bool = True

    @classmethod
    def of(cls, outputs: Sequence[Output]) -> JobKind:
        names = tuple(o.restyler.name for o in outputs if o.restyler is not None)
        classical = all(_classical(o.upscaler) for o in outputs)
        return cls(names, not names and classical)

    def carries(self, analysis: AnalysisOptions | None) -> bool:
        """Whether each segment goes on from the end state of the one before (``--seams
        carry``; ``auto``: when a diffusion restyler runs, whose look a warm-up cannot
        rebuild) rather than being primed by its warm-up. Carried segments render one after
        another."""
        if analysis is None or not self.restylers or analysis.seams == "warmup":
            return False
        return analysis.seams == "carry" or "diffusion" in self.restylers

    def restarts_at_cuts(self, analysis: AnalysisOptions | None) -> bool:
        """Whether a carried job's segments may start fresh at scene cuts, so that its shots
        render side by side: every restyler is the diffusion backend, which starts over at a
        cut (its generators too), so a segment started there renders what one run through it
        does."""
        scene = analysis is not None and analysis.scene_cuts
        return bool(scene) and self.carries(analysis) and set(self.restylers) == {"diffusion"}

    def at_once(self, parallel: int, analysis: AnalysisOptions | None, todo: int) -> int:
        """How many segments render at the same time: one whenever a model or the temporal
        analysis runs (they hold state and memory per frame, and use every core themselves);
        otherwise ``parallel``, or with 0 a quarter of the cores and at least two (one x264
        encoder at 4K/8K, fed by one decoder and one libswscale pass, leaves most of 16 cores
        idle, and about 15 % of 2). Never more than the segments left."""
        if analysis is not None or not self.stateless:
            return 1
        cores = os.cpu_count() or 1
        wanted = parallel or max(min(2, cores), cores // 4)
        return max(1, min(wanted, todo))


def _classical(upscaler: Any) -> bool:
    """A classical resampler, built here or described by a Ray worker."""
    if isinstance(upscaler, ClassicUpscaler):
        return True
    describe = getattr(upscaler, "describe", None)
    return callable(describe) and describe().get("kind") == "classical"


def carries(outputs: list[Output], analysis: AnalysisOptions | None) -> bool:
    """:meth:`JobKind.carries` of ``outputs``."""
    return JobKind.of(outputs).carries(analysis)


def find_cuts(
    input_path: Path, trim: Trim, analysis: AnalysisOptions, deinterlace: str = "auto"
) -> list[int]:
    """The job frames the analyzer will see as scene cuts (one decode of the input, with the
    pipeline's own reader and 8-bit conversion, so the two agree)."""
    reader = Reader(input_path, trim, copy_streams=False, deinterlace=deinterlace, deep=True)
    try:
        frames = (to_uint8(f.rgb) for f in reader if isinstance(f, Frame))
        return scene_cuts(frames, analysis)
    finally:
        reader.close()


def needs_state(segments: list[Segment], k: int) -> bool:
    """Whether the segment after ``segments[k]`` goes on from its end state (not at a cut)."""
    return k + 1 < len(segments) and goes_on(segments[k + 1], True)


def goes_on(seg: Segment, chain: bool) -> bool:
    """Whether ``seg`` goes on from the end state of the segment before (carried, not the
    job's first, not at a cut)."""
    return chain and seg.index > 0 and not seg.at_cut


@dataclass(frozen=True)
class SegmentPlan:
    """How a job is cut: its segments, and how they go on from one another. The one plan
    both executors run (:func:`run_segmented` here, :mod:`vidx.scale.ray_runner` on Ray)."""

    segments: list[Segment]
    end_time: float | None  # source time after the job's last frame (None: end of file)
    carried: bool  # each segment goes on from its predecessor's end state (else primed)
    side_by_side: int = 1  # segments cut to render at once in one process (stateless jobs)
    cuts: tuple[int, ...] | None = None  # the scene cuts planned for (None: not looked for)
    # carried, each segment goes on from its own keyframe, rendered first (``--passes 2``,
    # vidx.jobs.two_pass), not from the end of the segment before
    two_pass: bool = False

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)


def plan_job(job: JobContext, kind: JobKind, run_opts: RunOptions) -> SegmentPlan:
    """THE segment planner, for local and Ray runs alike: segments of about
    ``run_opts.segment_frames`` (fewer so that a short clip still makes ``side_by_side``
    segments when no model runs, see :func:`side_by_side_frames`); primed by their warm-up,
    or carried (:meth:`JobKind.carries`); a carried diffusion job's segments start at every
    scene cut too (:meth:`JobKind.restarts_at_cuts`), so its shots are chains of their own."""
    if run_opts.segment_frames < 1:
        raise OptionError(f"must be >= 1, got {run_opts.segment_frames}", param="segment_frames")
    carried = kind.carries(job.analysis)
    say_phase(job.on_progress, "scanning the input's frames")
    scan = scan_frames(job.path, job.trim)
    n = len(scan.times)
    at_once = kind.at_once(run_opts.parallel_segments, job.analysis, n)
    cuts = None
    if job.analysis is not None and kind.restarts_at_cuts(job.analysis):
        cuts = tuple(find_cuts(job.path, job.trim, job.analysis, job.deinterlace))
    warmup = 0 if carried else warmup_of(job.analysis)
    frames_each = side_by_side_frames(run_opts.segment_frames, n, at_once)
    segments = plan_segments(scan, frames_each, warmup, cuts or ())
    two_pass = carried and run_opts.passes == 2
    return SegmentPlan(segments, scan.end_time, carried, at_once, cuts, two_pass)


def warmup_of(analysis: AnalysisOptions | None) -> int:
    """Warm-up frames per segment: none without temporal analysis (nothing to prime)."""
    return analysis.warmup_frames if analysis is not None else 0


def segments_at_once(
    parallel: int, outputs: list[Output], analysis: AnalysisOptions | None, todo: int
) -> int:
    """:meth:`JobKind.at_once` of ``outputs``."""
    return JobKind.of(outputs).at_once(parallel, analysis, todo)


def side_by_side_frames(segment_frames: int, total: int, at_once: int) -> int:
    """Frames per segment when ``at_once`` segments may render side by side: ``segment_frames``,
    or fewer so that a clip of ``total`` frames shorter than ``at_once`` segments still makes
    ``at_once`` of them (but not under ``MIN_SIDE_BY_SIDE_FRAMES``: each starts an encoder)."""
    if at_once <= 1 or total >= at_once * segment_frames:
        return segment_frames
    return min(segment_frames, max(MIN_SIDE_BY_SIDE_FRAMES, math.ceil(total / at_once)))
