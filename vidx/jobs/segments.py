"""Resumable jobs: render a clip as segments kept in ``OUTPUT.parts/``, then remux them.

Each segment is one :func:`vidx.pipeline.run` over a slice of the input (source timestamps kept,
no audio), rendered by :func:`render_segment` here or on a Ray worker. Its restylers go on from
the segment before in one of two ways (``--seams``): primed by a warm-up of the frames before it
(:mod:`vidx.restyle.priming`; segments independent), or carried: the analyzer and restylers take
the end state the segment before left in ``segNNNNN.state`` (:mod:`vidx.jobs.state`; segments in
order). Either way a segment renders the same whether the job ran straight through, was resumed
after a crash or was spread over workers.
``OUTPUT.parts/manifest.json`` records the input's fingerprint (a hash of all of it), every option
value under the option schema version (see :meth:`vidx.options.JobOptions.to_dict`), the segment
plan and the finished segments (rewritten atomically after each one). When every segment is
there, the video packets are remuxed (no re-encode) with the input's audio and subtitles copied
once, the sidecar ``OUTPUT.json`` is written and the parts folder removed (only the files vidx
put there: anything else in it is left, with the folder).

How a job is cut (the one planner both executors run) is :mod:`vidx.jobs.segment_plan`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import cast

import numpy as np

from vidx.analysis import Analyzer
from vidx.errors import InputError, OptionError, OutputError
from vidx.frame import Frame
from vidx.io.fingerprint import changed, fingerprint
from vidx.io.images import to_uint8
from vidx.io.probe import VideoInfo, probe
from vidx.io.reader import Reader, Trim, repaired_warning
from vidx.io.remux import assemble, copy_warnings
from vidx.io.sidecar import write_atomic, write_json, write_sidecar
from vidx.jobs.segment_plan import (
    SEGMENT_SUFFIX,
    STATE_SUFFIX,
    JobKind,
    Segment,
    SegmentPlan,
    goes_on,
    needs_state,
    plan_job,
    warmup_of,
)
from vidx.jobs.state import StateError, dumps, label, labelled, restore
from vidx.jobs.two_pass import (
    TWO_PASS_STATES,
    interval_inputs,
    intervals_to_render,
    keep_keyframe,
    keyframe_before,
    keyframes_to_render,
    render_interval,
    render_keyframe,
)
from vidx.options import AnalysisOptions, RunOptions
from vidx.pipeline import (
    JobContext,
    JobResult,
    Output,
    Progress,
    ProgressCallback,
    Timings,
    params,
    record,
    run,
    say_phase,
)
from vidx.values.sizes import Layout
from vidx.version import __version__

MANIFEST = "manifest.json"
# an AV1 segment goes into .mp4: the mov muxer refuses AV1 (see segment_plan.SEGMENT_SUFFIX)
AV1_SEGMENT_SUFFIX = ".mp4"
# The largest end state read back, per pixel of the larger of the source frame and the
# restyler's work area: the diffusion backend's (cross-frame attention included) is about
# 2,100 bytes per pixel of its work area (docs/SCALING.md)
STATE_BYTES_PER_PIXEL = 4096
FORMAT = 2  # 2: options under a schema version, full-content input hash
COUNTERS = ("frames", "keyframes")  # describe() keys that count work, not settings


def parts_dir(output: Path) -> Path:
    """``OUTPUT.parts``: where a resumable job keeps its segments and manifest."""
    return output.with_name(output.name + ".parts")


def _settings(value: object) -> object:
    """``describe()`` output without its work counters (they grow while a job runs)."""
    if isinstance(value, dict):
        return {
            k: _settings(v)
            for k, v in value.items()
            if k not in COUNTERS and not str(k).startswith("unet_calls")
        }
    if isinstance(value, list | tuple):
        return [_settings(v) for v in value]
    return value


def job_settings(
    out: Output, trim: Trim, analysis: AnalysisOptions | None, segment_frames: int
) -> dict:
    """Everything that decides the pixels of ``out``: compared on resume."""
    options = out.options.to_dict(resume_only=True) if out.options is not None else {}
    data = {
        "vidx": __version__,
        "options": options,
        "trim": asdict(trim),
        "analysis": analysis.to_dict() if analysis is not None else None,
        "segment_frames": segment_frames,
        "output": {
            "suffix": out.path.suffix.lower(),
            "size": out.size.text,
            "fit": out.fit,
            "encode": out.encode.to_dict(),
            "restyle": out.restyler.describe() if out.restyler is not None else None,
            "upscale": out.upscaler.describe(),
        },
    }
    return cast(dict, json.loads(json.dumps(_settings(data), default=str)))


def _changed(old: object, new: object, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        names = []
        for k in sorted(set(old) | set(new), key=str):
            names += _changed(old.get(k), new.get(k), f"{prefix}{k}.")
        return names
    return [] if old == new else [f"{prefix.rstrip('.')} ({old!r} -> {new!r})"]


class Parts:
    """One output's ``.parts`` folder and its manifest."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.folder = parts_dir(out.path)
        self.manifest = self.folder / MANIFEST
        self.data: dict = {}
        self.input_path = Path()
        self._state_limit: int | None = None

    @property
    def done(self) -> set[int]:
        return set(self.data.get("done", []))

    def open(self, input_path: Path, settings: dict, restart: bool, resume: bool) -> bool:
        """Create or check the folder; True when an earlier run's manifest is taken up."""
        if self.folder.exists() and not self.manifest.is_file():
            raise OutputError(
                f"{self.folder} is not a vidx parts folder (no {MANIFEST}); move it away"
            )
        if restart:
            self.remove()
        self.input_path = input_path
        fp = fingerprint(input_path)
        if self.manifest.exists():
            try:
                old = json.loads(self.manifest.read_text())
            except (OSError, ValueError):
                old = {}
            if not isinstance(old, dict) or old.get("format") != FORMAT:
                raise OutputError(
                    f"{self.folder} holds a manifest this vidx cannot read (damaged, or from "
                    "another version); add --restart to start over"
                )
            if not resume:
                raise OutputError(
                    f"{self.folder} holds an unfinished run of this job; add --resume to "
                    "continue it or --restart to start over"
                )
            why = changed(old.get("input", {}), fp)
            if why:
                raise OutputError(
                    f"the input {input_path} changed since {self.folder} was started ({why}); "
                    "add --restart to start over"
                )
            changes = _changed(old.get("settings"), settings)
            if changes:
                raise OptionError(
                    f"the options differ from those {self.folder} was started with: "
                    f"{'; '.join(changes[:5])}; use the same options or add --restart"
                )
            self.data = old
            return True
        self.folder.mkdir(exist_ok=True)
        self.data = {
            "format": FORMAT,
            "input": {"path": str(input_path), **fp},
            "settings": settings,
            "settings_sha256": hashlib.sha256(
                json.dumps(settings, sort_keys=True).encode()
            ).hexdigest(),
            "segments": [],
            "done": [],
        }
        return False

    def remove(self) -> None:
        """Delete what vidx put in the folder (manifest, segments), then the folder if that
        leaves it empty; anything else is kept where it is."""
        if not self.manifest.is_file():
            return
        for path in self.folder.iterdir():
            ours = path.name in (MANIFEST, MANIFEST + ".part") or (
                path.name.startswith("seg")
                and path.suffix in (SEGMENT_SUFFIX, AV1_SEGMENT_SUFFIX, STATE_SUFFIX, ".part")
            )
            if ours and path.is_file() and not path.is_symlink():
                path.unlink()
        try:
            self.folder.rmdir()
        except OSError:
            pass  # the user's own files are still in it

    def save(self) -> None:
        write_json(self.manifest, self.data)

    def segment_path(self, seg: Segment) -> Path:
        path = self.folder / seg.file
        return path.with_suffix(AV1_SEGMENT_SUFFIX) if self.out.encode.codec == "av1" else path

    def finished(self, seg: Segment) -> bool:
        return seg.index in self.done and self.segment_path(seg).exists()

    def state_path(self, seg: Segment, kind: str = "") -> Path:
        """``seg``'s end state, or with ``kind`` another state of it (a two-pass job's
        ``key``: the state after its keyframe; ``image``: its keyframe's output)."""
        if not kind:
            return self.folder / seg.state_file
        return self.folder / f"seg{seg.index:05d}.{kind}{STATE_SUFFIX}"

    def save_state(self, seg: Segment, data: bytes, kind: str = "") -> None:
        """Keep ``seg``'s end state (or its ``kind`` of state) and record its size and SHA-256
        in the manifest (saved when the segment is marked done: done means kept)."""
        data = labelled(data, self.state_label(seg, kind))
        write_atomic(self.state_path(seg, kind), data)
        record = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        self.data.setdefault(_records(kind), {})[str(seg.index)] = record

    def state_label(self, seg: Segment, kind: str = "") -> str:
        """Which job (settings and input) and segment an end state belongs to: a state of
        another job or segment is refused even when the manifest was edited to match it."""
        job = [self.data.get("settings_sha256"), self.data.get("input", {}).get("sha256")]
        own = f"{hashlib.sha256(json.dumps(job).encode()).hexdigest()}:{seg.index}"
        return f"{own}:{kind}" if kind else own

    def state_limit(self) -> int:
        """The largest end state this job reads back (:data:`STATE_BYTES_PER_PIXEL`), worked
        out once per job (it probes the input)."""
        if self._state_limit is None:
            info = probe(self.input_path)
            restyle = self.out.options.restyle if self.out.options is not None else None
            side = (restyle.work_size if restyle is not None else None) or 1024
            self._state_limit = STATE_BYTES_PER_PIXEL * max(info.width * info.height, side**2)
        return self._state_limit

    def _recorded(self, seg: Segment, kind: str = "") -> tuple[str | None, dict]:
        """Why ``seg``'s end state may not be read, judged from the manifest and the file's
        size alone (None: it may), and the manifest's record of it."""
        path = self.state_path(seg, kind)
        record = self.data.get(_records(kind), {}).get(str(seg.index))
        if not path.is_file():
            return "missing", {}
        if not (isinstance(record, dict) and type(record.get("size")) is int):
            return "not recorded in the manifest", {}
        size = record["size"]
        if path.is_symlink() or path.stat().st_size != size or size > self.state_limit():
            return "not the size the manifest recorded", record
        return None, record

    def check_state(self, seg: Segment, kind: str = "") -> str | None:
        """Why ``seg``'s end state may not be read (None: it is as the manifest recorded
        it). Sizes are compared before a byte is read; the file is hashed in pieces."""
        why, record = self._recorded(seg, kind)
        if why is not None:
            return why
        digest = hashlib.sha256()
        with self.state_path(seg, kind).open("rb") as f:
            while piece := f.read(1 << 20):
                digest.update(piece)
        if digest.hexdigest() != record.get("sha256"):
            return "not the file the manifest recorded"
        return None

    def read_state(self, seg: Segment, kind: str = "") -> bytes:
        """``seg``'s end state, read once and checked against the manifest (its size before a
        byte is read, then its SHA-256 and label)."""
        path = self.state_path(seg, kind)
        why, record = self._recorded(seg, kind)
        if why is None:
            with path.open("rb") as f:
                data = f.read(record["size"] + 1)  # never more than recorded (and checked)
            if len(data) != record["size"] or hashlib.sha256(data).hexdigest() != record.get(
                "sha256"
            ):
                why = "not the file the manifest recorded"
        if why is not None:
            raise StateError(f"the end state {path} is {why}")
        if label(data) != self.state_label(seg, kind):
            raise StateError(f"the temporal state {path} was written for another job or segment")
        return data


def _records(kind: str) -> str:
    """The manifest entry recording the states of ``kind`` (see :meth:`Parts.state_path`)."""
    return f"{kind}_states" if kind else "states"


def unfinished(
    segments: list[Segment], parts: list[Parts], chain: bool, warnings: list[str] | None = None
) -> list[Segment]:
    """The segments to render: those not finished in every output; when carried, every
    segment from the first one not finished, or whose end state the next one lacks (or holds
    other than the manifest recorded: one line in ``warnings`` names them)."""
    if not chain:
        return [seg for seg in segments if not all(p.finished(seg) for p in parts)]
    todo: list[Segment] = []
    damaged: list[str] = []
    for k, seg in enumerate(segments):
        if todo and todo[-1].index == seg.index - 1 and not seg.at_cut:
            todo.append(seg)  # its chain is being rendered again from before it
            continue
        why = parts[0].check_state(seg) if needs_state(segments, k) else None
        if why not in (None, "missing"):
            damaged.append(f"{parts[0].state_path(seg).name} ({why})")
        if not (why is None and all(p.finished(seg) for p in parts)):
            todo.append(seg)
    if damaged and warnings is not None:
        warnings.append(
            f"rendering again the segments whose end state cannot be trusted: {', '.join(damaged)}"
        )
    return todo


def state_before(
    parts: list[Parts], segments: list[Segment], seg: Segment, chain: bool
) -> bytes | None:
    """The end state ``seg`` goes on from (:func:`goes_on`), as its predecessor kept it."""
    if not goes_on(seg, chain):
        return None
    return parts[0].read_state(segments[seg.index - 1])


def settle_plan(
    parts: list[Parts], resumed: list[bool], job: JobContext, kind: JobKind, run_opts: RunOptions
) -> SegmentPlan:
    """The plan the manifests hold when every output resumes the same one, else
    :func:`plan_job`'s, recorded in every manifest (a changed plan forgets the finished
    segments). Both executors take their plan from here."""
    plans = [p.data["segments"] for p, r in zip(parts, resumed, strict=True) if r]
    if len(plans) == len(parts) and plans[0] and all(plan == plans[0] for plan in plans):
        segments = [Segment(**s) for s in plans[0]]
        carried = kind.carries(job.analysis)
        two_pass = carried and run_opts.passes == 2
        return SegmentPlan(segments, parts[0].data.get("end_time"), carried, two_pass=two_pass)
    plan = plan_job(job, kind, run_opts)
    recorded = [asdict(s) for s in plan.segments]
    for p in parts:
        if p.data["segments"] != recorded:
            p.data.update(segments=recorded, done=[], states={})
            for name in TWO_PASS_STATES:
                p.data.pop(_records(name), None)
        p.data["end_time"] = plan.end_time
        p.save()
    return plan


def open_parts(
    job: JobContext, outputs: list[Output], run_opts: RunOptions
) -> tuple[list[Parts], list[bool]]:
    """Each output's parts folder, created or taken up (True: an earlier run's manifest)."""
    parts = [Parts(out) for out in outputs]
    resumed = [
        p.open(
            job.path,
            job_settings(p.out, job.trim, job.analysis, run_opts.segment_frames),
            run_opts.restart,
            run_opts.resume,
        )
        for p in parts
    ]
    return parts, resumed


@dataclass
class Gathered:
    """What the segments finished by this run add up to (and the job's warnings)."""

    warnings: list[str]
    timings: Timings = field(default_factory=Timings)
    layouts: dict[str, Layout] = field(default_factory=dict)
    repaired: int = 0

    def add(self, seg: Segment, result: JobResult, parts: list[Parts]) -> None:
        """Count ``seg``'s result and mark it done in every manifest."""
        if result.frames != seg.frames:
            self.warnings.append(
                f"segment {seg.index} decoded {result.frames} frames where the scan planned "
                f"{seg.frames}"
            )
        self.layouts.update(result.layouts)
        self.repaired += result.repaired
        said = repaired_warning(result.repaired)  # summed over the segments, said once
        self.warnings += [w for w in result.warnings if w not in self.warnings and w != said]
        for name, value in vars(result.timings).items():
            setattr(self.timings, name, getattr(self.timings, name) + value)
        for p in parts:
            p.data["done"] = sorted(p.done | {seg.index})
            p.data.setdefault("layouts", {}).update(
                {k: asdict(v) for k, v in result.layouts.items()}
            )
            p.save()


def render_segment(
    job: JobContext,
    seg: Segment,
    outputs: list[Output],
    paths: list[Path],
    *,
    chain: bool = False,
    state: bytes | None = None,
    keep_state: bool = False,
) -> tuple[JobResult, bytes | None]:
    """Render one segment of a job into ``paths`` (no audio, no sidecar), here or on a worker.

    Without ``chain`` the segment is primed by its warm-up (:func:`segment_outputs`). With it,
    the analyzer and the restylers of ``outputs`` go on from ``state``, the end state of the
    segment before (None: the job's first segment, which starts fresh); ``keep_state`` returns
    this segment's end state for the next. The state goes through bytes even when the same
    process renders the next segment, so a job gives the same frames run straight, resumed or
    spread over workers."""
    analyzer = None
    holders: tuple | None = None
    if chain and job.analysis is not None:
        analyzer = Analyzer(job.analysis, job.raft_state)
        holders = (analyzer, [o.restyler for o in outputs])
        if state is None or seg.at_cut:  # the job's start, or a cut: nothing to go on from
            for o in outputs:
                if o.restyler is not None:
                    o.restyler.reset()
        else:
            restore(holders, state)
        analyzer.first = seg.first
        analyzer.cut_first = seg.at_cut
    own = segment_outputs(job, seg, outputs, paths)
    piece = replace(job, trim=seg.trim)
    result = run(piece, own, copy_streams=False, sidecars=False, analyzer=analyzer)
    return result, dumps(holders) if keep_state and holders is not None else None


def run_segmented(
    job: JobContext, outputs: list[Output], run_opts: RunOptions | None = None
) -> JobResult:
    """Run a job as resumable segments of ``run_opts.segment_frames``; same contract and sidecar
    as :func:`pipeline.run`. The local executor of :func:`plan_job`'s plan.

    ``run_opts.parallel_segments`` segments render at once when no model runs (see
    :meth:`JobKind.at_once`; 0: from the cores), sharing ``job.threads`` CPU threads (0: every
    core each).

    A failure leaves nothing at the final paths but keeps ``OUTPUT.parts/`` so the same call
    continues where it stopped. ``run_opts.resume`` False refuses an existing parts folder;
    ``run_opts.restart`` wipes it. Changed input or settings against the manifest are an
    OutputError/OptionError. The outputs are checked by the caller (:func:`vidx.jobs.run.plan`).
    """
    # 1. check the job before any work
    run_opts = run_opts or RunOptions()
    if run_opts.segment_frames < 1:
        raise OptionError(f"must be >= 1, got {run_opts.segment_frames}", param="segment_frames")
    job = replace(job, source=job.path)
    info = probe(job.path)
    gathered = Gathered(
        [w for o in outputs for w in copy_warnings(job.path, o.path, o.encode.codec)]
    )
    started = time.perf_counter()
    # 2. open or take up each output's parts folder; plan the segments once
    parts, resumed = open_parts(job, outputs, run_opts)
    kind = JobKind.of(outputs)
    plan = settle_plan(parts, resumed, job, kind, run_opts)
    # 3. render the segments not finished in every output (several at once when no model
    #    runs); two passes: the keyframes first, then the segments (vidx.jobs.two_pass)
    if plan.two_pass:
        _render_two_pass(job, outputs, parts, plan, gathered, started)
    else:
        _render_here(job, outputs, parts, plan, run_opts, gathered, started)
    # 4. remux every output from its segments plus the input's audio and subtitles
    return finish_segments(job, info, outputs, parts, plan, gathered, started)


def _render_here(
    job: JobContext,
    outputs: list[Output],
    parts: list[Parts],
    plan: SegmentPlan,
    run_opts: RunOptions,
    gathered: Gathered,
    started: float,
) -> None:
    """The local executor: the unfinished segments in this process, one after another, or
    side by side in threads when no model runs."""
    segments, chain = plan.segments, plan.carried
    todo = unfinished(segments, parts, chain, gathered.warnings)
    tally = _Tally(job.on_progress, plan.frames - sum(s.frames for s in todo), plan.frames, started)
    at_once = JobKind.of(outputs).at_once(run_opts.parallel_segments, job.analysis, len(todo))
    per_segment = max(1, job.threads // at_once) if job.threads else 0

    def render(seg: Segment) -> JobResult:
        piece = replace(job, threads=per_segment, on_progress=tally.reporter(seg.index))
        result, end = render_segment(
            piece,
            seg,
            outputs,
            [p.segment_path(seg) for p in parts],
            chain=chain,
            state=state_before(parts, segments, seg, chain),
            keep_state=chain and needs_state(segments, seg.index),
        )
        if end is not None:
            parts[0].save_state(seg, end)
        return result

    # one at a time: in this thread (Ctrl-C lands in it); several: a pool whose segments
    # stop at their next frame when this thread fails or is interrupted
    pool = ThreadPoolExecutor(at_once, "vidx-segment") if at_once > 1 else None
    try:
        results = pool.map(render, todo) if pool is not None else map(render, todo)
        for seg, result in zip(todo, results, strict=True):  # in segment order
            gathered.add(seg, result, parts)
    except BaseException:
        tally.stop.set()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _render_two_pass(
    job: JobContext,
    outputs: list[Output],
    parts: list[Parts],
    plan: SegmentPlan,
    gathered: Gathered,
    started: float,
) -> None:
    """The local executor of a two-pass plan (:mod:`vidx.jobs.two_pass`): the keyframes still
    needed, in order, then the unfinished segments, one after another in this process."""
    segments = plan.segments
    intervals = intervals_to_render(plan, parts)
    keys = keyframes_to_render(segments, parts[0], intervals, gathered.warnings)
    for n, seg in enumerate(keys):
        say_phase(job.on_progress, f"keyframe {n + 1} of {len(keys)} (--passes 2)")
        before = keyframe_before(parts[0], segments, seg)
        keep_keyframe(parts[0], seg, *render_keyframe(job, seg, outputs, before))
    done = plan.frames - sum(s.frames for s in intervals)
    tally = _Tally(job.on_progress, done, plan.frames, started)
    for seg in intervals:
        piece = replace(job, on_progress=tally.reporter(seg.index))
        paths = [p.segment_path(seg) for p in parts]
        result = render_interval(
            piece, seg, outputs, paths, interval_inputs(parts[0], segments, seg)
        )
        gathered.add(seg, result, parts)


def finish_segments(
    job: JobContext,
    info: VideoInfo,
    outputs: list[Output],
    parts: list[Parts],
    plan: SegmentPlan,
    gathered: Gathered,
    started: float,
) -> JobResult:
    """Remux every output from its finished segments (the input's audio and subtitles copied
    once), write its sidecar and remove its parts folder: the end of a segmented job, wherever
    its segments were rendered (here or on Ray workers; ``job.on_progress`` hears the phase)."""
    segments, total = plan.segments, plan.frames
    warnings, layouts = gathered.warnings, gathered.layouts
    paths = []
    frames = 0
    for out, p in zip(outputs, parts, strict=True):
        phase = f"assembling {out.path.name} from {len(segments)} segments"
        say_phase(job.on_progress, phase, total, total, time.perf_counter() - started)
        frames = assemble(
            [(p.segment_path(s), s.start) for s in segments],
            job.path,
            out.path,
            out.encode.codec,
            job.trim,
            plan.end_time,
        )
        paths.append(out.path)
        for name, value in p.data.get("layouts", {}).items():
            layouts.setdefault(
                name, Layout(tuple(value["content"]), tuple(value["canvas"]), value["fit"])
            )
    if gathered.repaired:
        warnings.append(repaired_warning(gathered.repaired))
    if frames != total:
        warnings.append(f"the output has {frames} frames where the scan planned {total}")
    gathered.timings.total = time.perf_counter() - started
    result = JobResult(paths, frames, gathered.timings, warnings, layouts, gathered.repaired)
    for out, p in zip(outputs, parts, strict=True):
        data = {**record(out, frames, info, job.trim, result), "segments": len(segments)}
        write_sidecar(out.path, data, params(out))
        p.remove()
    return result


def discard_unstarted(outputs: list[Output]) -> None:
    """After a failed run: remove each output's parts folder that holds no finished segment
    (nothing to resume, so nothing to keep); folders with finished segments stay."""
    for out in outputs:
        parts = Parts(out)
        if parts.folder.is_dir() and not any(parts.folder.iterdir()):
            parts.folder.rmdir()  # made by this run before its manifest (plan() refuses others)
            continue
        try:
            parts.data = json.loads(parts.manifest.read_text())
        except (OSError, ValueError):
            continue  # none, or not one we can read: leave it
        if isinstance(parts.data, dict) and not parts.done:
            parts.remove()


# the warm-up a primed segment replays (vidx.restyle.priming), decoded here


def warmup_trim(start: float | None, segment_start: float) -> Trim | None:
    """The source slice ``[start, segment_start)`` holding a segment's warm-up frames (None:
    no warm-up, e.g. the first segment)."""
    if start is None or not segment_start > start:
        return None
    return Trim(start=start, duration=segment_start - start, rebase=False)


def read_warmup(
    input_path: str | Path, trim: Trim | None, frames: int, deinterlace: str = "auto"
) -> list[np.ndarray]:
    """Decode the last ``frames`` frames of ``trim`` as ``(H, W, 3)`` uint8 (8-bit the way the
    pipeline makes them for its models)."""
    if trim is None or frames <= 0:
        return []
    reader = Reader(input_path, trim, copy_streams=False, deinterlace=deinterlace, deep=True)
    out: list[np.ndarray] = []
    try:
        for item in reader:
            if isinstance(item, Frame):
                out.append(to_uint8(item.rgb))
                del out[:-frames]
    finally:
        reader.close()
    return out


def read_anchor(input_path: str | Path, time: float, deinterlace: str = "auto") -> np.ndarray:
    """Decode the frame at source time ``time`` (the job's first) as ``(H, W, 3)`` uint8."""
    reader = Reader(
        input_path,
        Trim(start=time, max_frames=1, rebase=False),
        copy_streams=False,
        deinterlace=deinterlace,
    )
    try:
        for item in reader:
            if isinstance(item, Frame):
                return to_uint8(item.rgb)
    finally:
        reader.close()
    raise InputError(f"{input_path}: no frame at {time:.3f} s to anchor a segment on")


def segment_outputs(
    job: JobContext, seg: Segment, outputs: list[Output], paths: list[Path]
) -> list[Output]:
    """The outputs of one segment, written to ``paths``, each restyler primed by the warm-up
    frames before the segment (see :mod:`vidx.restyle.priming`)."""
    from vidx.restyle.priming import PrimedRestyler, Renumbered

    analysis = job.analysis
    frames: list = []
    anchor = None
    if analysis is not None and any(o.restyler is not None for o in outputs):
        trim = warmup_trim(seg.warmup_start, seg.start)
        frames = read_warmup(job.path, trim, warmup_of(analysis), job.deinterlace)
        if frames and seg.anchor_start is not None:
            anchor = read_anchor(job.path, seg.anchor_start, job.deinterlace)
    out = []
    for o, path in zip(outputs, paths, strict=True):
        restyler = o.restyler
        if restyler is not None and frames and analysis is not None:  # numbered in the job
            first = seg.first - len(frames)
            job_analyzer = partial(Analyzer, analysis, job.raft_state)  # fresh at each reset
            restyler = PrimedRestyler(restyler, frames, job_analyzer, anchor, first)
        if restyler is not None and seg.first:  # the segment's own frames, numbered in the job
            restyler = Renumbered(restyler, seg.first)
        out.append(replace(o, path=path, restyler=restyler))
    return out


class _Tally:
    """Frames done over the segments rendering now and those finished before this run, for
    one progress line; and the flag that stops segments rendering in other threads."""

    def __init__(
        self, callback: ProgressCallback | None, before: int, total: int, started: float
    ) -> None:
        self.callback, self.before, self.total, self.started = callback, before, total, started
        self.done: dict[int, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set: segments still rendering stop at their next frame

    def reporter(self, index: int) -> ProgressCallback:
        def report(p: Progress) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt("another segment failed or the job was interrupted")
            with self.lock:
                self.done[index] = p.done
                done = self.before + sum(self.done.values())
            if self.callback is not None:
                now = time.perf_counter() - self.started
                self.callback(Progress(done, self.total, now, p.phase))

        return report
