"""Keyframes first, then every interval from both sides (``--passes 2``): a carried job's
two-pass schedule, for the local executor here and for Ray (:mod:`vidx.scale.ray_runner`).

Rerender-A-Video's full-video step and FlowVid. A carried diffusion job (``--seams carry``)
renders its segments one after another, each going on from the end state of the one before
(:mod:`vidx.jobs.segments`), so one long shot cannot use a second worker. With two passes:

1. the **keyframe pass** renders the first frame of every segment (its keyframe), in order,
   each tied to the keyframe before by the flow between the two (the analyzer is fed the
   keyframes only, so it gives each the long-range flow to the one before: an anchored
   keyframe); after each, the analyzer's and restylers' state is kept as ``segNNNNN.key.state``
   and its output as ``segNNNNN.image.state`` (:mod:`vidx.jobs.state`: data, never pickles),
   recorded in the manifest, so a resumed job does not render a finished keyframe again;
2. the **interval pass** renders every segment on its own, from the state its keyframe left:
   its first frame is that keyframe as pass 1 made it, and the later keyframe's output, carried
   backward, takes over toward its end (:mod:`vidx.restyle.intervals`). Intervals need nothing
   from one another, so the intervals of one shot render side by side on Ray workers, and two
   neighbours agree at their shared keyframe: no seam.

A segment at a scene cut starts a new chain of keyframes. The frames are the same whatever the
number of workers, and whether the job ran straight or was resumed. ``--passes 1`` keeps the
causal, one-pass order (the streaming mode: each frame depends only on the frames before it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vidx.analysis import Analyzer, analysis_frame
from vidx.errors import InputError
from vidx.frame import Frame, FrameContext
from vidx.io.images import to_uint8
from vidx.io.reader import Reader, Trim
from vidx.jobs.segment_plan import Segment, SegmentPlan, goes_on
from vidx.jobs.state import dumps, restore
from vidx.pipeline import JobContext, JobResult, Output, run
from vidx.restyle.priming import Renumbered

if TYPE_CHECKING:
    from vidx.restyle.intervals import Flows

TWO_PASS_STATES = ("key", "image")  # the states kept of each keyframe (module doc)


class KeptStates(Protocol):
    """Where a job keeps its states (:class:`vidx.jobs.segments.Parts`, one output's parts
    folder and manifest): ``kind`` is one of :data:`TWO_PASS_STATES`."""

    def check_state(self, seg: Segment, kind: str = "") -> str | None: ...

    def read_state(self, seg: Segment, kind: str = "") -> bytes: ...

    def save_state(self, seg: Segment, data: bytes, kind: str = "") -> None: ...

    def state_path(self, seg: Segment, kind: str = "") -> Path: ...

    def save(self) -> None: ...

    def finished(self, seg: Segment) -> bool: ...


@dataclass
class KeyOutputs:
    """Each output's restyled keyframe, ``(H, W, 3)`` uint8 (None: the output restyles not),
    and whether a scene cut lies between it and the keyframe before (it started fresh: the
    interval before it does not take it backward)."""

    images: list[np.ndarray | None]
    cut: bool = False


@dataclass(frozen=True)
class Keyframe:
    """A keyframe rendered by pass 1: its segment and the state it left."""

    seg: Segment
    state: bytes


@dataclass(frozen=True)
class IntervalInputs:
    """What one interval starts from: the state its keyframe left (``key``), that keyframe's
    output (``image``), and the later keyframe's output (``later``; None where the shot ends
    with this interval) with its job frame and source time."""

    key: bytes
    image: bytes
    later: bytes | None = None
    later_first: int = 0
    later_start: float = 0.0


def render_keyframe(
    job: JobContext, seg: Segment, outputs: list[Output], before: Keyframe | None
) -> tuple[bytes, bytes]:
    """Pass 1 for ``seg``: render its first frame (its keyframe), tied to the keyframe before
    (``before``: that keyframe's segment and the state it left; None: a shot's first keyframe,
    which starts fresh) by the flow between the two. That flow is composed of the per-frame
    flows of the interval between them (the job's own analyzer over its frames: as accurate as
    the chain one pass follows, where a flow straight across the gap is not). Returns the
    state after the keyframe and its outputs (``KeyOutputs``)."""
    if job.analysis is None:
        raise ValueError("the keyframe pass needs the temporal analysis (job.analysis)")
    analyzer = Analyzer(job.analysis, job.raft_state)
    held = (analyzer, [o.restyler for o in outputs])
    if before is None:
        for o in outputs:
            if o.restyler is not None:
                o.restyler.reset()
        analyzer.cut_first = seg.at_cut
        frames = read_frames(job.path, seg.start, 1, job.deinterlace)
    else:
        restore(held, before.state)
        frames = read_frames(job.path, before.seg.start, before.seg.frames + 1, job.deinterlace)
        frames = frames[1:]  # the keyframe before is the analyzer's previous frame already
    if not frames:
        raise InputError(f"{job.path}: no frame at {seg.start:.3f} s for keyframe {seg.index}")
    analyzer.first = 0
    ctx = composed_context(analyzer, frames, seg.first)
    rgb = frames[-1]
    images = [o.restyler(rgb, ctx) if o.restyler is not None else None for o in outputs]
    return dumps(held), dumps(KeyOutputs(images, ctx.scene_cut))


def composed_context(analyzer: Analyzer, frames: list[np.ndarray], index: int) -> FrameContext:
    """The context of the last of ``frames`` (job frame ``index``) as a keyframe, with the
    flow and mask to the frame before the first of them composed along the way; a fresh start
    (no flow) where there is nothing to follow, a scene cut where one lies between."""
    import temporal  # (torch: not for a job that only transcodes, which imports this module)

    flow: np.ndarray | None = None
    mask: np.ndarray | None = None
    broken = cut = False
    ctx = None
    for i, rgb in enumerate(frames, start=index - len(frames) + 1):
        if i == index and analyzer.scheduler is not None:
            analyzer.scheduler.reset()  # the segment's first frame is a keyframe
        ctx = analyzer(Frame(rgb, None, Fraction(1), i))
        if ctx.flow is None or ctx.mask is None or ctx.scene_cut:
            broken, cut = True, cut or ctx.scene_cut
            flow = mask = None
        elif not broken and (flow is None or mask is None):
            flow, mask = ctx.flow, ctx.mask
        elif not broken and flow is not None and mask is not None:
            flow = ctx.flow + temporal.warp(flow, ctx.flow)
            mask = ctx.mask & (temporal.warp(mask.astype(np.float32), ctx.flow) > 0.5)
    if ctx is None:
        raise ValueError("composed_context needs at least one frame")
    return replace(ctx, keyframe=True, scene_cut=cut, flow=flow, mask=mask)


def read_frames(
    input_path: str | Path,
    start: float,
    count: int,
    deinterlace: str = "auto",
    long_side: int | None = None,
) -> list[np.ndarray]:
    """``count`` frames from source time ``start`` as ``(H, W, 3)`` uint8 (8-bit the way the
    pipeline makes them for its models), at most ``long_side`` on their long side (the
    analyzer's :func:`vidx.analysis.analysis_frame`) when given."""
    trim = Trim(start=start, max_frames=count, rebase=False)
    reader = Reader(input_path, trim, copy_streams=False, deinterlace=deinterlace, deep=True)
    try:
        frames = (to_uint8(f.rgb) for f in reader if isinstance(f, Frame))
        if long_side is None:
            return list(frames)
        return [analysis_frame(rgb, long_side) for rgb in frames]
    finally:
        reader.close()


def keyframe_outputs(data: bytes, count: int) -> KeyOutputs:
    """The ``KeyOutputs`` of a keyframe's ``image`` state, for ``count`` outputs."""
    keys = KeyOutputs([None] * count)
    restore(keys, data)
    return keys


def render_interval(
    job: JobContext, seg: Segment, outputs: list[Output], paths: list, inputs: IntervalInputs
) -> JobResult:
    """Pass 2 for ``seg``: render it into ``paths`` from the state its keyframe left (module
    doc, step 2); the analyzer goes on from that keyframe too."""
    from vidx.restyle.intervals import FromKeyframe, LaterKeyframe, TwoSided, flows_to_last

    if job.analysis is None:
        raise ValueError("an interval needs the temporal analysis (job.analysis)")
    analyzer = Analyzer(job.analysis, job.raft_state)
    restore((analyzer, [o.restyler for o in outputs]), inputs.key)
    analyzer.first = seg.first
    own = keyframe_outputs(inputs.image, len(outputs)).images
    later: list[np.ndarray | None] = [None] * len(outputs)
    source = None
    after = keyframe_outputs(inputs.later, len(outputs)) if inputs.later is not None else None
    flows: Flows = {}
    if after is not None and not after.cut:  # a cut between: nothing to take backward
        later = after.images
        source = read_frames(job.path, inputs.later_start, 1, job.deinterlace)[0]
        size = job.analysis.analysis_size
        smalls = read_frames(job.path, seg.start, seg.frames + 1, job.deinterlace, size)
        flows = flows_to_last(smalls, seg.first, job.analysis, job.raft_state)
    wrapped = []
    for o, path, image, next_image in zip(outputs, paths, own, later, strict=True):
        restyler = o.restyler
        if restyler is not None and image is not None:
            restyler = FromKeyframe(restyler, image)
            if next_image is not None and source is not None:
                end = LaterKeyframe(seg.first, inputs.later_first, source, next_image)
                restyler = TwoSided(restyler, end, flows)
            if seg.first:
                restyler = Renumbered(restyler, seg.first)
        wrapped.append(replace(o, path=path, restyler=restyler))
    piece = replace(job, trim=seg.trim)
    return run(piece, wrapped, copy_streams=False, sidecars=False, analyzer=analyzer)


def later_keyframe(segments: list[Segment], seg: Segment) -> Segment | None:
    """The keyframe that ends ``seg``'s interval: the next segment's, when it goes on from
    ``seg`` (not at a cut, not past the job's end)."""
    k = seg.index + 1
    return segments[k] if k < len(segments) and goes_on(segments[k], True) else None


def interval_inputs(parts: KeptStates, segments: list[Segment], seg: Segment) -> IntervalInputs:
    """``seg``'s :class:`IntervalInputs`, read from the parts folder (checked as recorded)."""
    key, image = (parts.read_state(seg, kind) for kind in TWO_PASS_STATES)
    after = later_keyframe(segments, seg)
    if after is None:
        return IntervalInputs(key, image)
    later = parts.read_state(after, "image")
    return IntervalInputs(key, image, later, after.first, after.start)


def intervals_to_render(plan: SegmentPlan, parts: Sequence[KeptStates]) -> list[Segment]:
    """The intervals not finished in every output (each is rendered on its own)."""
    return [seg for seg in plan.segments if not all(p.finished(seg) for p in parts)]


def keyframes_to_render(
    segments: list[Segment],
    parts: KeptStates,
    intervals: list[Segment],
    warnings: list[str] | None = None,
) -> list[Segment]:
    """The keyframes pass 1 still has to render for ``intervals``: each one they need (their
    own and the later one) whose states are not as recorded, and the keyframes before it back
    to the last intact one of its shot (each is rendered from the one before). A state file
    there but other than the manifest recorded is named in one line of ``warnings``."""
    needed = {s.index for s in intervals}
    needed |= {a.index for s in intervals if (a := later_keyframe(segments, s)) is not None}
    checked: dict[int, bool] = {}
    damaged: list[str] = []

    def intact(i: int) -> bool:
        if i not in checked:
            why = {kind: parts.check_state(segments[i], kind) for kind in TWO_PASS_STATES}
            bad = [k for k, w in why.items() if w not in (None, "missing")]
            damaged.extend(f"{parts.state_path(segments[i], k).name} ({why[k]})" for k in bad)
            checked[i] = all(w is None for w in why.values())
        return checked[i]

    todo: set[int] = set()
    for j in sorted(needed):
        i = j
        while i not in todo and not intact(i):
            todo.add(i)
            if not goes_on(segments[i], True):
                break
            i -= 1
    if damaged and warnings is not None:
        warnings.append(
            f"rendering again the keyframes whose state cannot be trusted: {', '.join(damaged)}"
        )
    return [s for s in segments if s.index in todo]


def keyframe_before(parts: KeptStates, segments: list[Segment], seg: Segment) -> Keyframe | None:
    """The keyframe ``seg``'s keyframe goes on from, with the state it left (None: a shot's
    first keyframe)."""
    if not goes_on(seg, True):
        return None
    before = segments[seg.index - 1]
    return Keyframe(before, parts.read_state(before, "key"))


def keep_keyframe(parts: KeptStates, seg: Segment, key: bytes, image: bytes) -> None:
    """Keep a rendered keyframe's states and record them in the manifest."""
    parts.save_state(seg, key, "key")
    parts.save_state(seg, image, "image")
    parts.save()
