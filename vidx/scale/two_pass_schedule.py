"""The Ray executor of a two-pass plan (``--passes 2``, :mod:`vidx.jobs.two_pass`).

The same driver, pool, parts folder and manifest as :mod:`vidx.scale.ray_runner`; its tasks
are of two kinds: a segment's keyframe (pass 1), which starts when the keyframe before it in
its shot is kept, and a segment's interval (pass 2), which starts when its own keyframe and the
one that ends it are kept. Keyframes go first whenever one can start (they are the chain every
interval waits on); then every idle worker takes an interval, so one long shot renders on every
worker. A lost worker's task goes to a fresh one, as a segment does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidx.jobs.segment_plan import Segment, SegmentPlan, goes_on
from vidx.jobs.segments import Gathered, Parts
from vidx.jobs.two_pass import (
    interval_inputs,
    intervals_to_render,
    keep_keyframe,
    keyframe_before,
    keyframes_to_render,
    later_keyframe,
)
from vidx.pipeline import JobContext
from vidx.scale.ray_runner import _Pool, _Schedule


@dataclass(frozen=True)
class Task:
    """Pass 1 (``key``: ``seg``'s keyframe) or pass 2 (``seg``'s interval)."""

    seg: Segment
    key: bool


class TwoPassSchedule(_Schedule):
    """Keyframes in order within a shot, intervals side by side (module doc)."""

    def __init__(
        self,
        ray: Any,
        pool: _Pool,
        job: JobContext,
        parts: list[Parts],
        plan: SegmentPlan,
        gathered: Gathered,
        started: float,
    ) -> None:
        super().__init__(ray, pool, job, parts, plan, gathered, started)
        segments = self.plan.segments
        keys = keyframes_to_render(segments, self.parts[0], self.todo)
        self.keys_kept = {s.index for s in segments} - {s.index for s in keys}
        self.queue = [Task(s, True) for s in keys] + [Task(s, False) for s in self.todo]
        self.attempts = {t: 0 for t in self.queue}

    def pending(self, warnings: list[str]) -> list[Segment]:
        """The intervals not finished (each is rendered on its own)."""
        return intervals_to_render(self.plan, self.parts)

    def can_start(self, task: Any) -> bool:
        """A keyframe when the one before it is kept (or it starts its shot); an interval when
        its keyframe and the later one are."""
        seg, kept = task.seg, self.keys_kept
        if task.key:
            return not goes_on(seg, True) or seg.index - 1 in kept
        later = later_keyframe(self.plan.segments, seg)
        return seg.index in kept and (later is None or later.index in kept)

    def submit(self, slot: int, task: Any) -> None:
        self.attempts[task] += 1
        seg, actor, path = task.seg, self.pool.actors[slot], str(self.job.path)
        segments, parts = self.plan.segments, self.parts
        if task.key:
            before = keyframe_before(parts[0], segments, seg)
            ref = actor.render_keyframe.remote(path, seg, before, self.payload)
        else:
            paths = None if self.payload is not None else [str(p.segment_path(seg)) for p in parts]
            inputs = interval_inputs(parts[0], segments, seg)
            ref = actor.render_interval.remote(path, seg, paths, self.payload, inputs)
        self.running[ref] = (slot, task)

    def record(self, task: Any, reply: dict) -> None:
        """Keep a keyframe's states, or a finished interval's files (marked done)."""
        if not task.key:
            super().record(task.seg, reply)
            return
        keep_keyframe(self.parts[0], task.seg, reply["key"], reply["image"])
        self.keys_kept.add(task.seg.index)
        self.cpu += reply["cpu_s"]
