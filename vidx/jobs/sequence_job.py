"""Resumable image-sequence outputs: the finished frames on disk are the unit of resume.

A sequence output (``-o out/%06d.png``) is written frame by frame, each file renamed into place
only when whole (:mod:`vidx.io.sequence_writer`), next to a manifest ``out/######.png.resume.json``
that records the input's fingerprint and every setting that decides the pixels (as a segmented
video's manifest does, see :mod:`vidx.jobs.segments`). Run again after a crash, the job checks the
manifest, keeps the unbroken run of finished frames from the first number and renders only the
frames after it (those before are decoded and dropped, never processed or rewritten); the first
resumed frame starts the restyle's temporal state afresh, as a segment's first frame does. When
the last frame is written the sidecar ``out/######.png.json`` is written and the manifest removed.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from vidx.errors import OptionError, OutputError
from vidx.io.fingerprint import changed
from vidx.io.fingerprint import fingerprint as file_fingerprint
from vidx.io.image_sequence import Sequence, fingerprint, frame_path, hashed
from vidx.io.probe import VideoInfo
from vidx.io.sidecar import write_json, write_sidecar
from vidx.jobs.segments import job_settings
from vidx.options import RunOptions
from vidx.pipeline import (
    JobContext,
    JobResult,
    Output,
    Progress,
    ProgressCallback,
    params,
    record,
    run,
)

FORMAT = 1


def manifest_path(pattern: Path) -> Path:
    """``out/%06d.png`` -> ``out/######.png.resume.json``."""
    name = hashed(pattern)
    return name.with_name(name.name + ".resume.json")


def finished_frames(pattern: Path, first: int, limit: int | None = None) -> int:
    """How many frames ``first, first + 1, ...`` of ``pattern`` are on disk without a gap."""
    n = 0
    while (limit is None or n < limit) and frame_path(pattern, first + n).is_file():
        n += 1
    return n


def check_frames(
    pattern: Path, info: VideoInfo, seq: Sequence | None, *, overwrite: bool = False
) -> None:
    """Before any work: no frame of the output ``pattern`` may be a frame of the input
    sequence ``seq`` (whatever ``overwrite`` says); existing frames need ``overwrite`` unless an
    earlier run's manifest says they are this job's to resume.

    Raises:
        OutputError: one line naming the frame.
    """
    first = info.first_number or 1
    frames = [frame_path(pattern, n) for n in range(first, first + (info.frames or 1))]
    if seq is not None:
        inputs = {os.path.realpath(f) for f in seq.files()}
        clash = next((f for f in frames if os.path.realpath(f) in inputs), None)
        if clash is not None or os.path.realpath(pattern) == os.path.realpath(seq.pattern):
            raise OutputError(
                f"output {pattern} would overwrite the input sequence {seq.pattern} (frame "
                f"{(clash or frames[0]).name}); choose another output folder or name"
            )
    if manifest_path(pattern).exists() or overwrite:
        return
    found = next((f for f in frames if f.exists() or f.is_symlink()), None)
    if found is not None:
        raise OutputError(f"{found} already exists; add --overwrite to replace the sequence")


def input_fingerprint(source: Path | Sequence) -> dict[str, Any]:
    return fingerprint(source) if isinstance(source, Sequence) else file_fingerprint(source)


def _take_up(out: Output, manifest: dict[str, Any], resume: bool) -> None:
    """Check an earlier run's manifest against this job (raises when it cannot resume)."""
    path = manifest_path(out.path)
    old: Any
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        raise OutputError(
            f"{path} is damaged or from another vidx version; add --restart to start over"
        )
    if not resume:
        raise OutputError(
            f"{path} records an unfinished run of this job; add --resume to continue it or "
            "--restart to start over"
        )
    why = changed(old.get("input", {}), manifest["input"])
    if why is None and old.get("input") != manifest["input"]:
        why = "its frames changed"
    if why:
        raise OutputError(
            f"the input changed since {out.path} was started ({why}); add --restart to start over"
        )
    if old.get("settings") != manifest["settings"]:
        raise OptionError(
            f"the options differ from those {out.path} was started with; use the same options "
            "or add --restart"
        )


def run_sequence(
    job: JobContext, out: Output, info: VideoInfo, run_opts: RunOptions | None = None
) -> JobResult:
    """Render ``job.source`` into the sequence ``out`` (checked by :func:`vidx.jobs.run.plan`),
    continuing an earlier run's finished frames (unless ``run_opts.restart``; an earlier run
    is refused without ``run_opts.resume``); same result and sidecar as a video job."""
    run_opts = run_opts or RunOptions()
    trim = job.trim
    # 1. this job's manifest; an earlier one is taken up (or refused) before any frame
    path = manifest_path(out.path)
    manifest = {
        "format": FORMAT,
        "input": input_fingerprint(job.source),
        "settings": {**job_settings(out, trim, job.analysis, 0), "first_number": out.first_number},
    }
    if path.exists() and run_opts.restart:
        path.unlink()
    done = 0
    if path.exists():
        _take_up(out, manifest, run_opts.resume)
        done = finished_frames(out.path, out.first_number, info.frames)
    else:
        write_json(path, manifest)
    # 2. the frames after the finished ones
    try:
        result = run(
            replace(job, on_progress=_offset(job.on_progress, done)),
            [replace(out, first_number=out.first_number + done)],  # frame k keeps its number
            sidecars=False,
            first_frame=done,
        )
    except BaseException:
        if finished_frames(out.path, out.first_number, 1) == 0:
            path.unlink(missing_ok=True)  # nothing to resume
        raise
    # 3. the sidecar for the whole sequence; the manifest has done its job
    result.frames += done
    if done:
        result.warnings.append(
            f"resumed {out.path}: {done} finished frames kept, {result.frames - done} rendered"
        )
    write_sidecar(hashed(out.path), record(out, result.frames, info, trim, result), params(out))
    path.unlink(missing_ok=True)
    return result


def _offset(callback: ProgressCallback | None, before: int) -> ProgressCallback | None:
    if callback is None or not before:
        return callback

    def report(p: Progress) -> None:  # the finished frames count as done
        callback(Progress(before + p.done, p.total, p.elapsed, p.phase))

    return report
