"""Resumable jobs: render a clip as segments kept in ``OUTPUT.parts/``, then remux them.

Each segment is one :func:`vidx.pipeline.run` over a slice of the input (source timestamps kept,
no audio), so restylers and the analyzer start fresh and the segment's first frame is a keyframe:
a segment renders the same whether the job ran straight through or was resumed after a crash.
``OUTPUT.parts/manifest.json`` records the input's fingerprint, every parameter, the segment
plan and the finished segments (rewritten atomically after each one). When every segment is
there, the video packets are remuxed (no re-encode) with the input's audio and subtitles copied
once, the sidecar ``OUTPUT.json`` is written and the parts folder removed.

Convention: segment k holds the planned frames ``[first, first + frames)`` of the trimmed clip;
boundaries sit every ``segment_frames`` frames, moved to a source keyframe when one lies within a
quarter segment (so seeking to a segment costs no extra decoding).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

from vidx import __version__
from vidx.analysis import AnalysisOptions
from vidx.errors import OptionError, OutputError
from vidx.io.probe import probe
from vidx.io.reader import Trim
from vidx.io.remux import FrameScan, assemble, copy_warnings, scan_frames
from vidx.io.writer import Writer
from vidx.pipeline import (
    JobResult,
    Output,
    Progress,
    ProgressCallback,
    Timings,
    check_outputs,
    run,
    write_sidecar,
)
from vidx.sizes import Layout

DEFAULT_SEGMENT_FRAMES = 240
MANIFEST = "manifest.json"
# .mov for every segment, whatever the output: it stores dts (Matroska does not, and the remux
# needs them); AV1, which the mov muxer refuses, goes into .mp4 (same muxer family)
SEGMENT_SUFFIX = ".mov"
AV1_SEGMENT_SUFFIX = ".mp4"
FORMAT = 1
HASH_BYTES = 1 << 20
COUNTERS = ("frames", "keyframes")  # describe() keys that count work, not settings


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, first + frames)`` of the job; ``start``/``end`` are the source times
    (seconds) of its first frame and of the frame after its last (None: end of file)."""

    index: int
    first: int
    frames: int
    start: float
    end: float | None

    @property
    def trim(self) -> Trim:
        duration = None if self.end is None else self.end - self.start
        return Trim(start=self.start, duration=duration, rebase=False)

    @property
    def file(self) -> str:
        return f"seg{self.index:05d}{SEGMENT_SUFFIX}"


def parts_dir(output: Path) -> Path:
    """``OUTPUT.parts``: where a resumable job keeps its segments and manifest."""
    return output.with_name(output.name + ".parts")


def plan_segments(scan: FrameScan, segment_frames: int) -> list[Segment]:
    """Cut the scanned frames into segments of about ``segment_frames``, snapping each boundary
    to the nearest source keyframe within a quarter segment."""
    if segment_frames < 1:
        raise OptionError(f"--segment-frames must be >= 1, got {segment_frames}")
    n = len(scan.times)
    reach = segment_frames // 4
    keys = scan.keyframes
    bounds = [0]
    for nominal in range(segment_frames, n, segment_frames):
        near = [k for k in keys if abs(k - nominal) <= reach]
        b = min(near, key=lambda k: (abs(k - nominal), k)) if near else nominal
        if bounds[-1] < b < n:
            bounds.append(b)
    bounds.append(n)
    segments = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        end = scan.times[b] if b < n else scan.after
        segments.append(Segment(i, a, b - a, scan.times[a], end))
    return segments


def fingerprint(path: Path) -> dict:
    """Size, mtime and SHA-256 of the first and last MiB: cheap, and enough to notice a
    different or re-encoded input (mtime is recorded but not compared: a copy changes it)."""
    st = path.stat()
    with path.open("rb") as f:
        head = hashlib.sha256(f.read(HASH_BYTES)).hexdigest()
        f.seek(max(0, st.st_size - HASH_BYTES))
        tail = hashlib.sha256(f.read(HASH_BYTES)).hexdigest()
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "head_sha256": head,
        "tail_sha256": tail,
    }


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
    out: Output, trim: Trim, analysis: AnalysisOptions, segment_frames: int, params: dict
) -> dict:
    """Everything that decides the pixels of ``out``: compared on resume."""
    data = {
        "vidx": __version__,
        "params": params,
        "trim": asdict(trim),
        "analysis": analysis.to_dict(),
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

    @property
    def done(self) -> set[int]:
        return set(self.data.get("done", []))

    def open(self, input_path: Path, settings: dict, restart: bool, resume: bool) -> bool:
        """Create or check the folder; True when an earlier run's manifest is taken up."""
        if restart and self.folder.exists():
            shutil.rmtree(self.folder)
        fp = fingerprint(input_path)
        if self.manifest.exists():
            try:
                old = json.loads(self.manifest.read_text())
            except (OSError, ValueError):
                old = {}
            if old.get("format") != FORMAT:
                raise OutputError(
                    f"{self.folder} holds no readable manifest; add --restart to start over"
                )
            if not resume:
                raise OutputError(
                    f"{self.folder} holds an unfinished run of this job; add --resume to "
                    "continue it or --restart to start over"
                )
            keys = ("size", "head_sha256", "tail_sha256")
            if any(old["input"].get(k) != fp[k] for k in keys):
                raise OutputError(
                    f"the input {input_path} changed since {self.folder} was started "
                    f"(size {old['input'].get('size')} -> {fp['size']} bytes or its content); "
                    "add --restart to start over"
                )
            changes = _changed(old.get("settings"), settings)
            if changes:
                raise OptionError(
                    f"the settings differ from those {self.folder} was started with: "
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

    def save(self) -> None:
        tmp = self.manifest.with_name(MANIFEST + ".part")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.manifest)

    def segment_path(self, seg: Segment) -> Path:
        path = self.folder / seg.file
        return path.with_suffix(AV1_SEGMENT_SUFFIX) if self.out.encode.codec == "av1" else path

    def finished(self, seg: Segment) -> bool:
        return seg.index in self.done and self.segment_path(seg).exists()


@dataclass
class _Written:
    frames_written: int


def run_segmented(
    input_path: str | Path,
    outputs: list[Output],
    *,
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    trim: Trim = Trim(),
    analysis: AnalysisOptions = AnalysisOptions(enabled=False),
    resume: bool = True,
    restart: bool = False,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
    params: dict | None = None,
) -> JobResult:
    """Run a job as resumable segments; same contract and sidecar as :func:`pipeline.run`.

    A failure leaves nothing at the final paths but keeps ``OUTPUT.parts/`` so the same call
    continues where it stopped. ``resume`` False refuses an existing parts folder; ``restart``
    wipes it. Changed input or settings against the manifest are an OutputError/OptionError.
    """
    # 1. check inputs and outputs before any work
    input_path = Path(input_path)
    params = dict(params or {})
    check_outputs(input_path, outputs, overwrite)
    if segment_frames < 1:
        raise OptionError(f"--segment-frames must be >= 1, got {segment_frames}")
    info = probe(input_path)
    warnings: list[str] = []
    for out in outputs:
        warnings += copy_warnings(input_path, out.path, out.encode.codec)
    started = time.perf_counter()
    # 2. open or take up each output's parts folder; plan the segments once
    parts = [Parts(out) for out in outputs]
    resumed = [
        p.open(
            input_path, job_settings(p.out, trim, analysis, segment_frames, params), restart, resume
        )
        for p in parts
    ]
    plans = [p.data["segments"] for p, r in zip(parts, resumed, strict=True) if r]
    if len(plans) == len(parts) and plans[0] and all(plan == plans[0] for plan in plans):
        segments = [Segment(**s) for s in plans[0]]
        end_time = parts[0].data.get("end_time")
    else:
        scan = scan_frames(input_path, trim)
        segments = plan_segments(scan, segment_frames)
        end_time = scan.end_time
        for p in parts:
            if p.data["segments"] != [asdict(s) for s in segments]:
                p.data.update(segments=[asdict(s) for s in segments], done=[], end_time=end_time)
            p.data["end_time"] = end_time
            p.save()
    total = sum(s.frames for s in segments)
    # 3. render the segments not finished in every output
    timings = Timings()
    layouts: dict[str, Layout] = {}
    done_frames = 0
    for seg in segments:
        if all(p.finished(seg) for p in parts):
            done_frames += seg.frames
            continue
        result = run(
            input_path,
            [
                _segment_output(out, p.segment_path(seg))
                for out, p in zip(outputs, parts, strict=True)
            ],
            trim=seg.trim,
            analysis=analysis,
            overwrite=True,
            on_progress=_offset(on_progress, done_frames, total, started),
            params=params,
            copy_streams=False,
        )
        if result.frames != seg.frames:
            warnings.append(
                f"segment {seg.index} decoded {result.frames} frames where the scan planned "
                f"{seg.frames}"
            )
        layouts.update(result.layouts)
        warnings += result.warnings
        for name, value in vars(result.timings).items():
            setattr(timings, name, getattr(timings, name) + value)
        for p in parts:
            p.data["done"] = sorted(p.done | {seg.index})
            p.data.setdefault("layouts", {}).update(
                {k: asdict(v) for k, v in result.layouts.items()}
            )
            p.save()
        done_frames += seg.frames
    # 4. remux every output from its segments plus the input's audio and subtitles
    paths = []
    frames = 0
    for out, p in zip(outputs, parts, strict=True):
        frames = assemble(
            [(p.segment_path(s), s.start) for s in segments],
            input_path,
            out.path,
            out.encode.codec,
            trim,
            end_time,
        )
        paths.append(out.path)
        for name, value in p.data.get("layouts", {}).items():
            layouts.setdefault(
                name, Layout(tuple(value["content"]), tuple(value["canvas"]), value["fit"])
            )
    if frames != total:
        warnings.append(f"the output has {frames} frames where the scan planned {total}")
    timings.total = time.perf_counter() - started
    result = JobResult(paths, frames, timings, warnings, layouts)
    sidecar_params = {**params, "segment_frames": segment_frames, "segments": len(segments)}
    for out, p in zip(outputs, parts, strict=True):
        written = cast(Writer, _Written(frames))
        write_sidecar(out, written, info, trim, analysis, result, sidecar_params)
        shutil.rmtree(p.folder, ignore_errors=True)
    return result


def _segment_output(out: Output, path: Path) -> Output:
    return Output(
        path=path,
        upscaler=out.upscaler,
        size=out.size,
        fit=out.fit,
        encode=out.encode,
        restyler=out.restyler,
        name=out.name,
    )


def _offset(
    callback: ProgressCallback | None, before: int, total: int, started: float
) -> ProgressCallback | None:
    if callback is None:
        return None

    def report(p: Progress) -> None:
        callback(Progress(before + p.done, total, time.perf_counter() - started))

    return report
