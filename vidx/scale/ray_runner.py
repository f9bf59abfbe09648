"""Run a planned job's segments on Ray workers: the driver's side.

The driver (this process) plans the segments at keyframe boundaries exactly as a resumable job
does (:mod:`vidx.segments`), keeps the same ``OUTPUT.parts/manifest.json`` up to date after
each finished segment (so a killed driver resumes with ``--resume``, on Ray or not), hands the
unfinished segments to :class:`vidx.scale.worker.SegmentWorker` actors, one at a time each,
and remuxes the result with the audio copied once. A segment whose worker died (its process
killed, its node lost: ``ray.exceptions.RayActorError``) goes to a fresh worker; the output
is the same as a run without the fault, because a segment's pixels depend only on its frames
and its warm-up (see :mod:`vidx.restyle.priming`), or, carried (``--seams carry``), on the end
state of the segment before, which the driver keeps in the parts folder and hands over. A
carried job's segments start at every scene cut, so each shot is a chain of its own and the
shots render side by side.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from vidx.io.probe import VideoInfo
from vidx.io.reader import Trim, repaired_warning
from vidx.io.remux import copy_warnings, scan_frames
from vidx.options import AnalysisOptions, RunOptions
from vidx.pipeline import JobResult, Output, Progress, ProgressCallback, Timings
from vidx.scale.cluster import connect, import_ray
from vidx.scale.worker import SegmentWorker
from vidx.segments import (
    Parts,
    Segment,
    carries,
    find_cuts,
    finish_segments,
    goes_on,
    needs_state,
    plan_segments,
    restarts_at_cuts,
    state_before,
    unfinished,
    warmup_of,
)
from vidx.sidecar import write_atomic
from vidx.sizes import parse_size

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
    input_path: Path,
    info: VideoInfo,
    targets: list,
    build: Callable[..., list[Output]],
    *,
    analysis: AnalysisOptions | None,
    trim: Trim,
    on_progress: ProgressCallback | None = None,
) -> JobResult:
    """Render a checked, segmented job (see :func:`vidx.jobs.plan`) on Ray workers; the same
    contract, parts folder, manifest and sidecar as :func:`vidx.segments.run_segmented`.

    ``targets`` are the job's :class:`vidx.jobs.Target`; ``build`` is
    :func:`vidx.jobs.build_outputs`, called by each worker (models are never pickled)."""
    shared = targets[0].options
    options: RunOptions = shared.run
    ray = import_ray(options)
    threads = options.threads_per_worker or default_threads(options.workers or 1)
    started_here = connect(ray, options, threads)
    try:
        count = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        gpus = 1.0 if shared.device.device.startswith("cuda") else 0.0
        worker_args = (targets, info.pix_fmt, analysis, threads, shared.input.deinterlace, build)
        pool = _Pool(ray, count, threads, worker_args, gpus)
        try:
            return _drive(ray, pool, input_path, info, targets, analysis, trim, on_progress)
        finally:
            pool.stop()
    finally:
        if started_here:
            ray.shutdown()


def _drive(
    ray: Any,
    pool: _Pool,
    input_path: Path,
    info: VideoInfo,
    targets: list,
    analysis: AnalysisOptions | None,
    trim: Trim,
    on_progress: ProgressCallback | None,
) -> JobResult:
    # 1. the outputs as the workers built them, their parts folders and the segment plan
    shared = targets[0].options
    run_opts: RunOptions = shared.run
    segment_frames = run_opts.segment_frames
    started = time.perf_counter()
    first = pool.actors[0]
    settings = ray.get(first.settings.remote(trim, segment_frames))
    described = ray.get(first.describe.remote())
    outputs = [_output(t, d) for t, d in zip(targets, described, strict=True)]
    warnings: list[str] = []
    for out in outputs:
        warnings += copy_warnings(input_path, out.path, out.encode.codec)
    parts = [Parts(out) for out in outputs]
    resumed = [
        p.open(input_path, s, run_opts.restart, run_opts.resume)
        for p, s in zip(parts, settings, strict=True)
    ]
    chain = carries(outputs, analysis)
    try:
        warmup = 0 if chain else warmup_of(analysis)
        # carried diffusion: each shot is a chain of its own, so shots render side by side
        cutting = analysis is not None and restarts_at_cuts(outputs, analysis)
        plan = (parts, resumed, input_path, trim, segment_frames, warmup)
        segments, end_time = _plan(*plan, analysis if cutting else None, shared.input.deinterlace)
        return _render(
            ray, pool, input_path, info, outputs, parts, segments, end_time, trim,
            warnings, started, on_progress, chain,
        )  # fmt: skip
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


def _plan(
    parts: list[Parts],
    resumed: list[bool],
    input_path: Path,
    trim: Trim,
    segment_frames: int,
    warmup: int,
    cuts_of: AnalysisOptions | None = None,
    deinterlace: str = "auto",
) -> tuple[list[Segment], float | None]:
    """The segment plan: the manifests' when every output resumes the same one, else new
    (with ``cuts_of``, a segment starting at every scene cut that analysis will see)."""
    plans = [p.data["segments"] for p, r in zip(parts, resumed, strict=True) if r]
    if len(plans) == len(parts) and plans[0] and all(plan == plans[0] for plan in plans):
        return [Segment(**s) for s in plans[0]], parts[0].data.get("end_time")
    scan = scan_frames(input_path, trim)
    cuts = find_cuts(input_path, trim, cuts_of, deinterlace) if cuts_of is not None else []
    segments = plan_segments(scan, segment_frames, warmup, cuts)
    for p in parts:
        if p.data["segments"] != [asdict(s) for s in segments]:
            p.data.update(segments=[asdict(s) for s in segments], done=[], states={})
        p.data["end_time"] = scan.end_time
        p.save()
    return segments, scan.end_time


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


def _render(
    ray: Any,
    pool: _Pool,
    input_path: Path,
    info: VideoInfo,
    outputs: list[Output],
    parts: list[Parts],
    segments: list[Segment],
    end_time: float | None,
    trim: Trim,
    warnings: list[str],
    started: float,
    on_progress: ProgressCallback | None,
    chain: bool = False,
) -> JobResult:
    # 2. schedule the unfinished segments, one at a time per worker; retry lost workers' ones.
    # Carried segments (chain) of one shot go one after another, each with the end state of the
    # one before; a segment at a cut needs none, so shots run side by side
    total = sum(s.frames for s in segments)
    todo = unfinished(segments, parts, chain, warnings)
    done_frames = total - sum(s.frames for s in todo)
    payload = _transport(ray, pool, input_path, parts) if todo else None
    attempts = {s.index: 0 for s in todo}
    per_worker: dict[int, int] = {}
    cpu = [0.0]
    running: dict[Any, tuple[int, Segment]] = {}
    timings, layouts, repaired = Timings(), {}, 0

    def submit(slot: int, seg: Segment) -> None:
        attempts[seg.index] += 1
        paths = None if payload is not None else [str(p.segment_path(seg)) for p in parts]
        state = state_before(parts, segments, seg, chain)
        keep = chain and needs_state(segments, seg.index)
        ref = pool.actors[slot].render.remote(
            str(input_path), seg, paths, payload, chain, state, keep
        )
        running[ref] = (slot, seg)

    def can_start(seg: Segment) -> bool:
        """A carried segment starts when the one before it is done (or at a cut)."""
        return not goes_on(seg, chain) or seg.index - 1 in finished

    def fill() -> None:
        """Give every idle worker the next segment that can start."""
        busy = {slot for slot, _ in running.values()}
        for slot in [s for s in range(len(pool.actors)) if s not in busy]:
            seg = next((s for s in queue if can_start(s)), None)
            if seg is None:
                return
            queue.remove(seg)
            submit(slot, seg)

    def report() -> None:
        if on_progress is not None:
            elapsed = time.perf_counter() - started
            segs = {pid: per_worker.get(pid, 0) for pid in pool.pids}
            on_progress(WorkerProgress(done_frames, total, elapsed, segments=segs, cpu_s=cpu[0]))

    queue = list(todo)
    finished = {s.index for s in segments} - {s.index for s in todo}
    fill()
    report()
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        slot, seg = running.pop(ready[0])
        try:
            reply = ray.get(ready[0])
        except ray.exceptions.RayActorError:
            if attempts[seg.index] >= MAX_ATTEMPTS:
                raise
            pool.replace(slot)  # a fresh worker on the same slot takes the segment again
            submit(slot, seg)
            continue
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)  # the worker's own error (a VidxError ...)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        # 3. record the finished segment in every manifest (its end state first, if carried)
        if payload is not None:
            for p, data in zip(parts, reply["files"], strict=True):
                write_atomic(p.segment_path(seg), data)
        if reply.get("state") is not None:
            parts[0].save_state(seg, reply["state"])
        if reply["frames"] != seg.frames:
            warnings.append(
                f"segment {seg.index} decoded {reply['frames']} frames where the scan planned "
                f"{seg.frames}"
            )
        layouts.update(reply["layouts"])
        repaired += reply["repaired"]
        said = repaired_warning(reply["repaired"])
        warnings += [w for w in reply["warnings"] if w not in warnings and w != said]
        for name, value in reply["timings"].items():
            setattr(timings, name, getattr(timings, name) + value)
        for p in parts:
            p.data["done"] = sorted(p.done | {seg.index})
            p.data.setdefault("layouts", {}).update(
                {k: asdict(v) for k, v in reply["layouts"].items()}
            )
            p.save()
        done_frames += seg.frames
        per_worker[reply["pid"]] = per_worker.get(reply["pid"], 0) + 1
        cpu[0] += reply["cpu_s"]
        finished.add(seg.index)
        fill()
        report()
    # 4. remux every output from its segments plus the input's audio and subtitles
    return finish_segments(
        input_path,
        info,
        outputs,
        parts,
        segments,
        end_time,
        trim,
        warnings,
        started,
        timings,
        layouts,
        repaired,
    )  # fmt: skip  (no phase message: this path's progress reports segments per worker)
