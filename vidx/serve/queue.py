"""The web UI's job queue: one job at a time, the rest wait in order and know their place.

Every job is a call of the Python API the CLI makes (:func:`vidx.api.render`,
:func:`vidx.api.preview`, :func:`vidx.api.variants`, :func:`vidx.api.render_timeline` with its
media confined to the media root), with its outputs in a folder of its own
under ``STATE/jobs/ID/``. The queue is kept in ``STATE/jobs.json`` (rewritten atomically on
every change, progress at most once a second), so a reloaded page shows it and a restarted
server takes up unfinished jobs: calling the API again with the same options continues from the
finished segments in ``OUTPUT.parts/``. Cancelling a running job stops it at the next frame and
keeps those segments; :meth:`JobQueue.resume` queues it again.

Every job has an owner (:mod:`vidx.serve.owners`), kept in the file: each lookup by id also
names the owner, and a job of another owner is no such job. Options are checked by
:func:`vidx.serve.checks.check_request` before a job exists, with the server's pixel limit.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vidx.errors import OptionError, VidxError
from vidx.io.inputs import MAX_PIXELS

log = logging.getLogger("vidx.serve")

KINDS = ("render", "preview", "variants", "timeline")
WAITING, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
SAVE_EVERY = 1.0  # seconds between progress writes of jobs.json


class JobCancelled(Exception):
    """Raised inside a running job (from its progress callback) when it is cancelled."""


@dataclass
class Job:
    """One queued call of the API and what became of it (all JSON-friendly)."""

    id: str
    kind: str
    input: str
    output: str  # a file (render, preview) or a folder (variants, timeline)
    options: dict[str, Any]
    name: str = ""  # the input as the user knows it
    vary: dict[str, list] | None = None  # preview rows
    job_file: str | None = None  # variants
    state: str = WAITING
    done: int = 0
    total: int | None = None
    fps: float = 0.0
    phase: str | None = None  # what a running job does besides frames ("scanning ...")
    frames: int | None = None
    error: str | None = None
    note: str | None = None
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    owner: str = ""  # vidx.serve.owners; "" (a job from before owners): nobody's
    link_key: str = field(default_factory=lambda: secrets.token_hex(16))  # see view.hand_out

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed (None before the first frame)."""
        if self.state != RUNNING or not self.total or self.fps <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.fps)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


ProgressFn = Callable[[int, int | None, float, str | None], None]
Runner = Callable[[Job, ProgressFn], None]


class JobQueue:
    """Jobs in ``state_dir``, run one at a time by a worker thread (:meth:`start`);
    ``max_pixels`` is the server's pixel limit (a job may ask for less, never more)."""

    def __init__(
        self, state_dir: Path, runner: Runner | None = None, *, max_pixels: int = MAX_PIXELS
    ) -> None:
        self.state_dir = Path(state_dir)
        self.max_pixels = max_pixels
        self.jobs_dir = self.state_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.file = self.state_dir / "jobs.json"
        self.runner = runner or run_job
        self._jobs: dict[str, Job] = {}
        self._cond = threading.Condition(threading.RLock())
        self._cancel: set[str] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._saved = 0.0
        self._load()

    # the queue -----------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        input: Path,
        options: dict[str, Any],
        *,
        owner: str,
        name: str = "",
        vary: dict[str, list] | None = None,
        job_text: str | None = None,
    ) -> Job:
        """Check the options, a preview's rows or a job file (OptionError, before anything is
        queued; :func:`~vidx.serve.checks.check_request`) and queue a job for ``owner``."""
        from vidx.serve.checks import check_request

        if kind not in KINDS:
            raise OptionError(f"must be one of {', '.join(KINDS)}, got {kind!r}", param="kind")
        if not owner:
            raise OptionError("this page has no owner yet; reload it")
        scratch = self.state_dir / "scratch"
        options = check_request(
            kind, options, self.max_pixels, scratch, vary=vary, job_text=job_text
        )
        with self._cond:
            job_id = f"{max((int(j) for j in self._jobs), default=0) + 1:04d}"
            folder = self.jobs_dir / job_id
            folder.mkdir()
            stem = Path(name or input.name).stem or "clip"
            output = {
                "render": folder / f"{stem}-vidx.mp4",
                "preview": folder / f"{stem}-preview.png",
                "variants": folder / "variants",
                "timeline": folder / "timeline",
            }[kind]
            if input.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"):
                if kind == "render":
                    output = output.with_suffix(".png")
            job_file = None
            if job_text is not None:
                job_file = folder / "job.toml"
                job_file.write_text(job_text, encoding="utf-8")
            job = Job(
                job_id,
                kind,
                str(input),
                str(output),
                dict(options),
                name=name or input.name,
                vary=vary,
                job_file=str(job_file) if job_file else None,
                created=time.time(),
                owner=owner,
            )
            self._jobs[job_id] = job
            self._save()
            self._cond.notify_all()
            return job

    def _owned(self, job_id: str | None, owner: str) -> Job | None:
        """The job ``job_id`` when ``owner`` owns it; None for every other id and owner."""
        job = self._jobs.get(job_id or "")
        return job if job is not None and owner and job.owner == owner else None

    def get(self, job_id: str | None, owner: str) -> Job | None:
        """A copy of ``owner``'s job ``job_id``; None when there is no such job of theirs."""
        with self._cond:
            job = self._owned(job_id, owner)
            return Job.from_dict(asdict(job)) if job else None

    def all(self) -> list[Job]:
        """Every job of every owner, oldest first (copies; for the server, not a page)."""
        with self._cond:
            return [Job.from_dict(asdict(j)) for j in sorted(self._jobs.values(), key=_order)]

    def owned(self, owner: str) -> list[Job]:
        """``owner``'s jobs, oldest first (copies)."""
        return [j for j in self.all() if owner and j.owner == owner]

    def place(self, job_id: str) -> int | None:
        """How many jobs run or wait before a waiting job (0: it is next); None otherwise."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.state != WAITING:
                return None
            ahead = [j for j in self._jobs.values() if j.state == RUNNING]
            ahead += [
                j for j in self._jobs.values() if j.state == WAITING and _order(j) < _order(job)
            ]
            return len(ahead)

    def cancel(self, job_id: str, owner: str) -> bool:
        """Cancel ``owner``'s waiting job at once, a running one at its next frame (its finished
        segments stay for :meth:`resume`). False when it is not waiting or running, or not
        theirs."""
        with self._cond:
            job = self._owned(job_id, owner)
            if job is None or job.state not in (WAITING, RUNNING):
                return False
            if job.state == WAITING:
                self._finish(job, CANCELLED, note="cancelled before it started")
            else:
                self._cancel.add(job_id)
            return True

    def resume(self, job_id: str, owner: str) -> bool:
        """Queue ``owner``'s cancelled or failed job again: it continues from its finished
        segments. False when it is neither, or not theirs."""
        with self._cond:
            job = self._owned(job_id, owner)
            if job is None or job.state not in (CANCELLED, FAILED):
                return False
            job.state, job.error, job.note, job.finished = WAITING, None, "resumed", None
            job.created = time.time()
            self._save()
            self._cond.notify_all()
            return True

    def wait(self, job_id: str, owner: str, timeout: float | None = None) -> Job | None:
        """Block until ``owner``'s job has finished (or ``timeout`` seconds); returns a copy
        (None: no such job of theirs)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                job = self._owned(job_id, owner)
                if job is None or job.state in FINISHED:
                    return self.get(job_id, owner)
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return self.get(job_id, owner)
                self._cond.wait(left if left is not None else 1.0)

    # the worker ----------------------------------------------------------------------------

    def start(self) -> JobQueue:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vidx-serve-jobs", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker; a running job is interrupted and stays queued for the next start."""
        with self._cond:
            self._stopping = True
            self._cancel.update(j.id for j in self._jobs.values() if j.state == RUNNING)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _next(self) -> Job | None:
        waiting = [j for j in self._jobs.values() if j.state == WAITING]
        return min(waiting, key=_order) if waiting else None

    def _work(self) -> None:
        while True:
            with self._cond:
                job = self._next()
                while job is None and not self._stopping:
                    self._cond.wait(1.0)
                    job = self._next()
                if self._stopping or job is None:
                    return
                job.state, job.started, job.done, job.phase = RUNNING, time.time(), 0, None
                self._save()
            self._run(job)

    def _run(self, job: Job) -> None:
        def progress(done: int, total: int | None, fps: float, phase: str | None = None) -> None:
            with self._cond:
                if job.id in self._cancel:
                    raise JobCancelled(job.id)
                job.done, job.total, job.fps, job.phase = done, total, fps, phase
                if time.monotonic() - self._saved >= SAVE_EVERY:
                    self._save()
                self._cond.notify_all()

        try:
            self.runner(job, progress)
        except JobCancelled:
            with self._cond:
                self._cancel.discard(job.id)
                if self._stopping:  # a server shutdown, not the user: take it up on restart
                    job.state, job.note = WAITING, "interrupted by a server stop"
                    self._save()
                else:
                    self._finish(job, CANCELLED, note=kept_note(job))
            return
        except VidxError as exc:
            self._finish(job, FAILED, error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug: the job fails, the server goes on
            log.exception("job %s failed", job.id)
            self._finish(job, FAILED, error=f"unexpected {type(exc).__name__}: {exc}")
            return
        self._finish(job, DONE)

    def _finish(self, job: Job, state: str, *, error: str | None = None, note: str | None = None):
        with self._cond:
            job.state, job.error, job.finished, job.phase = state, error, time.time(), None
            if note is not None:
                job.note = note
            self._cancel.discard(job.id)
            self._save()
            self._cond.notify_all()

    # the file --------------------------------------------------------------------------------

    def _load(self) -> None:
        if not self.file.is_file():
            return
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            jobs = [Job.from_dict(d) for d in data.get("jobs", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            broken = self.file.with_suffix(".broken.json")
            os.replace(self.file, broken)
            log.warning("%s could not be read (%s); moved to %s", self.file, exc, broken)
            return
        for job in jobs:
            if job.state == RUNNING:  # the server died under it
                job.state, job.note = WAITING, "resumed after a server restart"
            asked = job.options.get("max_pixels")  # the server's limit may be lower now
            ok = isinstance(asked, int) and asked <= self.max_pixels
            job.options["max_pixels"] = asked if ok else self.max_pixels
            self._jobs[job.id] = job
        self._save()

    def _save(self) -> None:
        data = {"version": 1, "jobs": [asdict(j) for j in sorted(self._jobs.values(), key=_order)]}
        tmp = self.file.with_name(f".{self.file.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.file)
        self._saved = time.monotonic()


def _order(job: Job) -> tuple[float, int]:
    return job.created, int(job.id)


def kept_note(job: Job) -> str:
    from vidx.jobs.segments import parts_dir

    parts = parts_dir(Path(job.output))
    if job.kind == "render" and parts.is_dir():
        return f"cancelled; finished segments kept in {parts.name}/ (resume continues there)"
    return "cancelled"


def run_job(job: Job, progress: ProgressFn) -> None:
    """Run ``job`` through the Python API; fills in its result files and frame count."""
    from vidx import api
    from vidx.io.sidecar import sidecar_path
    from vidx.quiet import quiet_libraries
    from vidx.serve.checks import PREVIEW_FRAMES, PREVIEW_WIDTH

    command = f"vidx serve (job {job.id})"
    output = Path(job.output)

    def on_progress(p: Any) -> None:  # vidx.pipeline.Progress
        progress(p.done, p.total, p.fps, getattr(p, "phase", None))

    with quiet_libraries() as notes:
        if job.kind == "preview":
            api.preview(
                job.input,
                output,
                vary=job.vary or {},
                frames=PREVIEW_FRAMES,
                cell_width=PREVIEW_WIDTH,
                overwrite=True,
                command=command,
                **job.options,
            )
            outputs = [output]
        elif job.kind == "variants":
            result = api.variants(
                job.input,
                job.job_file or "",
                output,
                on_progress=on_progress,
                command=command,
                **job.options,
            )
            outputs, job.frames = list(result.outputs), result.frames
            job.warnings = list(result.warnings)
        elif job.kind == "timeline":
            outputs = _run_timeline(job, output, on_progress, command)
        elif output.exists() and sidecar_path(output).exists():  # finished before a restart
            outputs = [output]
        else:
            result = api.render(
                job.input, output, on_progress=on_progress, command=command, **job.options
            )
            outputs, job.frames = list(result.outputs), result.frames
            job.warnings = list(result.warnings)
    job.warnings += [n for n in notes if n not in job.warnings]
    extra = [sidecar_path(p) for p in outputs] + [_compare(p) for p in outputs]
    job.files = [str(p) for p in [*outputs, *extra] if p.is_file()]


def _run_timeline(job: Job, output: Path, on_progress: Any, command: str) -> list[Path]:
    """An edit's pieces and its relinked edit; each clip left offline is a warning."""
    from vidx import api

    result = api.render_timeline(
        job.input, output, on_progress=on_progress, command=command, confine=True, **job.options
    )
    job.frames = sum(i.result.frames for i in result.pieces if i.result is not None)
    root = str(job.options.get("media_root", ""))
    job.warnings = [
        f"clip {c.clip.index + 1} {c.clip.name!r} is offline: {c.reason}".replace(root, "root")
        for c in result.clips
        if c.status not in ("ok", "kept")
    ]
    if not result.ok:
        job.note = f"{len(job.warnings)} of {len(result.clips)} clips offline"
    return [*result.timelines, *(i.output for i in result.pieces if i.status != "failed")]


def _compare(output: Path) -> Path:
    from vidx.compare import compare_path

    return compare_path(output)
