"""Run a planned job's segments on Ray workers: the driver's side.

The driver (this process) plans the segments at keyframe boundaries exactly as a resumable job
does (:mod:`vidx.jobs.segments`), keeps the same ``OUTPUT.parts/manifest.json`` up to date after
each finished segment (so a killed driver resumes with ``--resume``, on Ray or not), hands the
unfinished segments to :class:`vidx.scale.worker.SegmentWorker` actors, one at a time each,
and remuxes the result with the audio copied once. A segment whose worker died (its process
killed, its node lost: ``ray.exceptions.RayActorError``) goes to a fresh worker; the output
is the same as a run without the fault, because a segment's pixels depend only on its frames
and its warm-up (see :mod:`vidx.restyle.priming`), or, carried (``--seams carry``), on the end
state of the segment before, which the driver keeps in the parts folder and hands over. A
carried job's segments start at every scene cut, so each shot is a chain of its own and the
shots render side by side. In two passes (``--passes 2``, :mod:`vidx.jobs.two_pass`) a shot's
keyframes render first, in order, and then its segments side by side (``_TwoPassSchedule``).

``--workers N`` starts a local Ray instance with ``N x threads`` CPUs and stops it at the end;
``--ray ADDRESS`` (or ``RAY_ADDRESS``) joins a running cluster and leaves it running (checked
and joined within ``--ray-timeout`` seconds, see :mod:`vidx.scale.cluster`). Segment
files go through the parts folder when every worker sees it, else through the object store
(``VIDX_RAY_TRANSPORT=object`` forces that, for tests).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from vidx.io.probe import VideoInfo
from vidx.io.remux import copy_warnings
from vidx.io.sidecar import write_atomic
from vidx.jobs.segment_plan import JobKind, Segment, SegmentPlan, goes_on, needs_state
from vidx.jobs.segments import (
    Gathered,
    Parts,
    finish_segments,
    settle_plan,
    state_before,
    unfinished,
)
from vidx.jobs.two_pass import (
    interval_inputs,
    intervals_to_render,
    keep_keyframe,
    keyframe_before,
    keyframes_to_render,
    later_keyframe,
)
from vidx.options import RunOptions
from vidx.pipeline import JobContext, JobResult, Output, Progress, Timings
from vidx.scale.cluster import connect, import_ray
from vidx.scale.worker import SegmentWorker
from vidx.values.sizes import parse_size

TRANSPORT_ENV = "VIDX_RAY_TRANSPORT"  # "object": segments through the object store only
MAX_ATTEMPTS = 3  # a segment is tried on this many workers before the job fails


@dataclass
class WorkerProgress(Progress):
    """Progress of a job on Ray: frames done, and segments done by each worker (by pid)."""

    segments: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0  # CPU seconds the workers spent on the segments finished so far


def default_threads(workers: int) -> int:
    """Each worker's share of this machine's cores (at least one)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class _Stub:
    """Stands in for a model on the driver: it only describes what the workers built."""

    def __init__(self, name: str, description: dict) -> None:
        self.name = name
        self.description = description

    def describe(self) -> dict:
        return self.description


class _Pool:
    """The driver's workers: start, replace a dead one, stop."""

    def __init__(self, ray: Any, count: int, threads: int, args: tuple, gpus: float) -> None:
        self.ray = ray
        # Ray sets OMP_NUM_THREADS to num_cpus itself; the worker sets torch, OpenCV and
        # onnxruntime (no runtime_env: that would cost a fresh process per worker)
        self.factory = ray.remote(SegmentWorker).options(
            num_cpus=threads, num_gpus=gpus, max_concurrency=1
        )
        self.args = args
        self.actors: list[Any] = [self.factory.remote(*args) for _ in range(count)]
        self.pids: list[int] = ray.get([a.pid.remote() for a in self.actors])

    def replace(self, slot: int) -> None:
        self.ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self.factory.remote(*self.args)
        self.pids[slot] = self.ray.get(self.actors[slot].pid.remote())

    def stop(self) -> None:
        try:
            self.ray.get([a.close.remote() for a in self.actors], timeout=30)
        except Exception:  # a dead or stuck worker: its scratch folder goes with its machine
            pass
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass


def run_on_ray(
    job: JobContext, info: VideoInfo, targets: list, build: Callable[..., list[Output]]
) -> JobResult:
    """Render a checked, segmented job (see :func:`vidx.jobs.run.plan`) on Ray workers; the same
    contract, parts folder, manifest, segment plan (:func:`vidx.jobs.segment_plan.plan_job`) and
    sidecar as :func:`vidx.jobs.segments.run_segmented`.

    ``targets`` are the job's :class:`vidx.jobs.run.Target`; ``build`` is
    :func:`vidx.jobs.run.build_outputs`, called by each worker (models are never pickled)."""
    shared = targets[0].options
    options: RunOptions = shared.run
    ray = import_ray(options)
    threads = options.threads_per_worker or default_threads(options.workers or 1)
    started_here = connect(ray, options, threads)
    try:
        count = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        gpus = 1.0 if shared.device.device.startswith("cuda") else 0.0
        worker_args = (targets, info.pix_fmt, job.analysis, threads, job.deinterlace, build)
        pool = _Pool(ray, count, threads, worker_args, gpus)
        try:
            return _drive(ray, pool, job, info, targets)
        finally:
            pool.stop()
    finally:
        if started_here:
            ray.shutdown()


def _drive(ray: Any, pool: _Pool, job: JobContext, info: VideoInfo, targets: list) -> JobResult:
    # 1. the outputs as the workers built them, their parts folders and the segment plan
    run_opts: RunOptions = targets[0].options.run
    started = time.perf_counter()
    first = pool.actors[0]
    settings = ray.get(first.settings.remote(job.trim, run_opts.segment_frames))
    described = ray.get(first.describe.remote())
    outputs = [_output(t, d) for t, d in zip(targets, described, strict=True)]
    gathered = Gathered(
        [w for o in outputs for w in copy_warnings(job.path, o.path, o.encode.codec)]
    )
    parts = [Parts(out) for out in outputs]
    resumed = [
        p.open(job.path, s, run_opts.restart, run_opts.resume)
        for p, s in zip(parts, settings, strict=True)
    ]
    try:
        plan = settle_plan(parts, resumed, job, JobKind.of(outputs), run_opts)
        # 2. the segments on the workers; 3. recorded as each one finishes
        schedule = _TwoPassSchedule if plan.two_pass else _Schedule
        schedule(ray, pool, job, parts, plan, gathered, started).run()
        # 4. remux every output from its segments plus the input's audio and subtitles (no
        # phase message: this path's progress reports segments per worker)
        quiet = replace(job, on_progress=None)
        return finish_segments(quiet, info, outputs, parts, plan, gathered, started)
    except BaseException:
        for p in parts:
            if not p.done:
                p.remove()  # nothing finished: nothing worth keeping
        raise


def _output(t: Any, described: tuple[dict | None, dict]) -> Output:
    restyle, upscale = described
    o = t.options
    restyler = _Stub(str((restyle or {}).get("name", "restyle")), restyle) if restyle else None
    return Output(
        t.path,
        cast(Any, _Stub(str(upscale.get("name", "upscale")), upscale)),
        parse_size(o.size.size),
        o.size.fit,
        o.encode.settings(),
        cast(Any, restyler),
        name=t.name,
        options=o,
    )


def _transport(ray: Any, pool: _Pool, input_path: Path, parts: list[Parts]) -> bytes | None:
    """None when every worker sees the input and the parts folders (files go there), else the
    input's bytes in the object store (each segment comes back as bytes)."""
    if os.environ.get(TRANSPORT_ENV) != "object":
        checks = [
            a.can_reach.remote(str(input_path), str(p.manifest), p.data["settings_sha256"])
            for a in pool.actors
            for p in parts
        ]
        if all(ray.get(checks)):
            return None
    return cast(bytes, ray.put(input_path.read_bytes()))


class _Schedule:
    """The Ray executor of a segment plan: the unfinished segments, one at a time per worker;
    a lost worker's segment again on a fresh one. Carried segments of one shot go one after
    another, each with the end state of the one before; a segment at a cut needs none, so
    shots run side by side."""

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
        self.ray, self.pool, self.job, self.parts, self.plan = ray, pool, job, parts, plan
        self.gathered, self.started = gathered, started
        self.todo = self.pending(gathered.warnings)
        self.done_frames = plan.frames - sum(s.frames for s in self.todo)
        self.payload = _transport(ray, pool, job.path, parts) if self.todo else None
        self.attempts: dict[Any, int] = {s: 0 for s in self.todo}  # by task
        self.per_worker: dict[int, int] = {}
        self.cpu = 0.0
        self.running: dict[Any, tuple[int, Any]] = {}
        self.queue: list[Any] = list(self.todo)  # the tasks not started
        self.finished = {s.index for s in plan.segments} - {s.index for s in self.todo}

    def run(self) -> None:
        self.fill()
        self.report()
        while self.running:
            ready, _ = self.ray.wait(list(self.running), num_returns=1)
            slot, seg = self.running.pop(ready[0])
            try:
                reply = self.ray.get(ready[0])
            except self.ray.exceptions.RayActorError:
                if self.attempts[seg] >= MAX_ATTEMPTS:
                    raise
                self.pool.replace(slot)  # a fresh worker on the same slot takes it again
                self.submit(slot, seg)
                continue
            except self.ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)  # the worker's own error (a VidxError ...)
                if isinstance(cause, BaseException):
                    raise cause from None
                raise
            self.record(seg, reply)
            self.fill()
            self.report()

    def pending(self, warnings: list[str]) -> list[Segment]:
        """The segments to render (:func:`vidx.jobs.segments.unfinished`)."""
        return unfinished(self.plan.segments, self.parts, self.plan.carried, warnings)

    def submit(self, slot: int, seg: Segment) -> None:
        self.attempts[seg] += 1
        parts, chain = self.parts, self.plan.carried
        paths = None if self.payload is not None else [str(p.segment_path(seg)) for p in parts]
        state = state_before(parts, self.plan.segments, seg, chain)
        keep = chain and needs_state(self.plan.segments, seg.index)
        ref = self.pool.actors[slot].render.remote(
            str(self.job.path), seg, paths, self.payload, chain, state, keep
        )
        self.running[ref] = (slot, seg)

    def can_start(self, seg: Segment) -> bool:
        """A carried segment starts when the one before it is done (or at a cut)."""
        return not goes_on(seg, self.plan.carried) or seg.index - 1 in self.finished

    def fill(self) -> None:
        """Give every idle worker the next segment that can start."""
        busy = {slot for slot, _ in self.running.values()}
        for slot in [s for s in range(len(self.pool.actors)) if s not in busy]:
            seg = next((s for s in self.queue if self.can_start(s)), None)
            if seg is None:
                return
            self.queue.remove(seg)
            self.submit(slot, seg)

    def record(self, seg: Segment, reply: dict) -> None:
        """Keep a finished segment's files and end state; mark it done in every manifest."""
        if self.payload is not None:
            for p, data in zip(self.parts, reply["files"], strict=True):
                write_atomic(p.segment_path(seg), data)
        if reply.get("state") is not None:
            self.parts[0].save_state(seg, reply["state"])
        timings = Timings(**reply["timings"])
        result = JobResult(
            [], reply["frames"], timings, reply["warnings"], reply["layouts"], reply["repaired"]
        )
        self.gathered.add(seg, result, self.parts)
        self.done_frames += seg.frames
        self.per_worker[reply["pid"]] = self.per_worker.get(reply["pid"], 0) + 1
        self.cpu += reply["cpu_s"]
        self.finished.add(seg.index)

    def report(self) -> None:
        if self.job.on_progress is not None:
            elapsed = time.perf_counter() - self.started
            segs = {pid: self.per_worker.get(pid, 0) for pid in self.pool.pids}
            progress = WorkerProgress(
                self.done_frames, self.plan.frames, elapsed, segments=segs, cpu_s=self.cpu
            )
            self.job.on_progress(progress)


@dataclass(frozen=True)
class Task:
    """Pass 1 (``key``: ``seg``'s keyframe) or pass 2 (``seg``'s interval)."""

    seg: Segment
    key: bool


class _TwoPassSchedule(_Schedule):
    """The Ray executor of a two-pass plan (``--passes 2``, :mod:`vidx.jobs.two_pass`). Its
    tasks are of two kinds: a segment's keyframe (pass 1), which starts when the keyframe before
    it in its shot is kept, and a segment's interval (pass 2), which starts when its own
    keyframe and the one that ends it are kept. Keyframes go first whenever one can start
    (every interval waits on their chain); then every idle worker takes an interval, so one
    long shot renders on every worker. A lost worker's task goes to a fresh one."""

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
        keys = keyframes_to_render(segments, self.parts[0], self.todo, gathered.warnings)
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
