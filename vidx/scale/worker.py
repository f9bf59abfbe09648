"""The body of a Ray model worker: builds a job's models once, then renders segments.

A worker gets the job's :class:`vidx.jobs.run.Target` list (paths and options, never model objects)
and calls :func:`vidx.jobs.run.build_outputs` (handed to it) itself, so models load once per
worker, on the worker's machine. Each segment is one :func:`vidx.pipeline.run` over its slice
of the input, primed by the warm-up frames before it (:func:`vidx.jobs.segments.segment_outputs`).

Segment files go straight into the job's parts folder when the worker can see it (a local
cluster, or a shared file system); otherwise the input comes as bytes through Ray's object
store and the encoded segment goes back the same way.

This module does not import Ray: :mod:`vidx.scale.ray_runner` wraps :class:`SegmentWorker` in
``ray.remote``, so the worker is plain Python and testable without a cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidx.io.reader import Trim
from vidx.jobs.segment_plan import SEGMENT_SUFFIX, Segment
from vidx.jobs.segments import AV1_SEGMENT_SUFFIX, job_settings, render_segment
from vidx.jobs.two_pass import IntervalInputs, Keyframe, render_interval, render_keyframe
from vidx.options import AnalysisOptions
from vidx.pipeline import JobContext, JobResult, Output


def set_threads(threads: int) -> None:
    """Make this process's numeric libraries use ``threads`` CPU threads (torch, OpenCV,
    onnxruntime for the style network)."""
    import cv2
    import torch

    from vidx.restyle.style import set_onnx_threads

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    set_onnx_threads(threads)


class SegmentWorker:
    """Renders segments of one job (see the module docstring)."""

    def __init__(
        self,
        targets: list,
        source_pix_fmt: str | None,
        analysis: AnalysisOptions | None,
        threads: int,
        deinterlace: str,
        build: Callable[..., list[Output]],
    ) -> None:
        """``build`` is :func:`vidx.jobs.run.build_outputs` (passed in: vidx.jobs.run calls this
        layer, so importing it here would make a cycle)."""
        set_threads(threads)
        self.threads = threads
        self.outputs = build(targets, source_pix_fmt)
        self.analysis = analysis
        self.deinterlace = deinterlace
        self.raft_state: Any = None
        if analysis is not None and analysis.flow == "raft":
            from vidx.weights import load_raft_model

            allow = targets[0].options.device.allow_pickle
            self.raft_state = load_raft_model(Path(analysis.raft_weights or ""), allow_pickle=allow)
        self._inputs: dict[str, Path] = {}  # object-store inputs, written once per worker
        self._scratch_dir: Path | None = None  # made on first use (object-store segments)

    @property
    def _scratch(self) -> Path:
        if self._scratch_dir is None:
            self._scratch_dir = Path(tempfile.mkdtemp(prefix="vidx-worker-"))
        return self._scratch_dir

    def pid(self) -> int:
        return os.getpid()

    def settings(self, trim: Trim, segment_frames: int) -> list[dict]:
        """What the resume manifest records for each output (models described as built here)."""
        return [job_settings(o, trim, self.analysis, segment_frames) for o in self.outputs]

    def describe(self) -> list[tuple[dict | None, dict]]:
        """Each output's restyler and upscaler ``describe()`` (for the sidecar)."""
        return [
            (o.restyler.describe() if o.restyler is not None else None, o.upscaler.describe())
            for o in self.outputs
        ]

    def can_reach(self, input_path: str, manifest: str, settings_sha256: str) -> bool:
        """Whether this worker sees the job's input and parts folder (the very manifest the
        driver wrote, by its settings hash), so segments can go through the file system."""
        try:
            data = json.loads(Path(manifest).read_text())
        except (OSError, ValueError):
            return False
        return Path(input_path).is_file() and data.get("settings_sha256") == settings_sha256

    def render(
        self,
        input_path: str,
        seg: Segment,
        paths: list[str] | None,
        input_bytes: bytes | None = None,
        chain: bool = False,
        state: bytes | None = None,
        keep_state: bool = False,
    ) -> dict:
        """Render ``seg``. With ``paths`` the segment files are written there; without, the
        input comes as ``input_bytes`` and each output's encoded segment is returned as bytes
        under ``"files"``. ``chain``: go on from ``state``, the end state of the segment before
        (see :func:`vidx.jobs.segments.render_segment`); ``keep_state`` returns this one's under
        ``"state"``. Returns the pipeline's frames, layouts, warnings and timings."""
        cpu = time.process_time()  # every thread of this worker: decode, models, encode
        job, targets = self._job(input_path, input_bytes, seg, paths)
        result, end = render_segment(
            job,
            seg,
            self.outputs,
            targets,
            chain=chain,
            state=state,
            keep_state=keep_state,
        )
        return self._reply(result, targets, paths is None, cpu, end)

    def render_keyframe(
        self, input_path: str, seg: Segment, before: Keyframe | None, input_bytes: bytes | None
    ) -> dict:
        """Pass 1 of a two-pass job for ``seg`` (:func:`vidx.jobs.two_pass.render_keyframe`):
        its keyframe's state under ``"key"`` and its outputs under ``"image"``."""
        cpu = time.process_time()
        job, _ = self._job(input_path, input_bytes, seg, [])
        key, image = render_keyframe(job, seg, self.outputs, before)
        return {"key": key, "image": image, "pid": os.getpid(), "cpu_s": time.process_time() - cpu}

    def render_interval(
        self,
        input_path: str,
        seg: Segment,
        paths: list[str] | None,
        input_bytes: bytes | None,
        inputs: IntervalInputs,
    ) -> dict:
        """Pass 2 of a two-pass job for ``seg`` (:func:`vidx.jobs.two_pass.render_interval`);
        ``paths`` and ``input_bytes`` and the reply as :meth:`render`'s."""
        cpu = time.process_time()
        job, targets = self._job(input_path, input_bytes, seg, paths)
        result = render_interval(job, seg, self.outputs, targets, inputs)
        return self._reply(result, targets, paths is None, cpu, None)

    def _job(
        self, input_path: str, input_bytes: bytes | None, seg: Segment, paths: list[str] | None
    ) -> tuple[JobContext, list[Path]]:
        """The job as this worker reads it, and where ``seg``'s files go (``paths``, or this
        worker's scratch folder when they go back through the object store)."""
        source = Path(input_path)
        if input_bytes is not None:
            source = self._local_input(input_bytes, source.suffix)
        if paths is not None:
            targets = [Path(p) for p in paths]
        else:
            folder = self._scratch / f"seg{seg.index:05d}"
            folder.mkdir(exist_ok=True)
            suffixes = [
                AV1_SEGMENT_SUFFIX if o.encode.codec == "av1" else SEGMENT_SUFFIX
                for o in self.outputs
            ]
            targets = [folder / f"out{i}{sfx}" for i, sfx in enumerate(suffixes)]
        job = JobContext(
            source, analysis=self.analysis, raft_state=self.raft_state, deinterlace=self.deinterlace
        )
        return job, targets

    def _reply(
        self, result: JobResult, targets: list[Path], back: bool, cpu: float, end: bytes | None
    ) -> dict:
        """What a rendered segment sends the driver (its files too when ``back``)."""
        reply: dict = {
            "frames": result.frames,
            "layouts": result.layouts,
            "warnings": result.warnings,
            "repaired": result.repaired,
            "timings": vars(result.timings),
            "pid": os.getpid(),
            "cpu_s": time.process_time() - cpu,
            "state": end,
        }
        if back:
            reply["files"] = [t.read_bytes() for t in targets]
            shutil.rmtree(targets[0].parent, ignore_errors=True)
        return reply

    def _local_input(self, data: bytes, suffix: str) -> Path:
        key = hashlib.sha256(data).hexdigest()
        if key not in self._inputs:
            path = self._scratch / f"input-{key[:16]}{suffix}"
            path.write_bytes(data)
            self._inputs[key] = path
        return self._inputs[key]

    def close(self) -> None:
        """Remove this worker's scratch files (object-store inputs and segments)."""
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None


__all__ = ["SegmentWorker", "set_threads"]
