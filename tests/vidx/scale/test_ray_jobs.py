"""A job on a local Ray cluster: same frames with 1 or 2 workers, steady seams, lost workers
and a lost driver (issue 15)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import numpy as np
import pytest

import temporal
import vidx
from tests.conftest import run_cli, stream_duration, video_timestamps
from tests.vidx.scale.conftest import FRAMES, SEGMENT, job_options
from vidx.io.remux import scan_frames
from vidx.jobs.segment_plan import plan_segments
from vidx.jobs.segments import parts_dir
from vidx.scale.ray_runner import TRANSPORT_ENV, WorkerProgress

ROOT = Path(__file__).resolve().parents[3]


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def same_frames(a: Path, b: Path) -> list[int]:
    """Indices of the frames that differ (both files must have as many)."""
    fa, fb = decoded(a), decoded(b)
    assert len(fa) == len(fb)
    return [i for i, (x, y) in enumerate(zip(fa, fb, strict=True)) if not np.array_equal(x, y)]


@pytest.fixture(scope="module")
def one_worker(ray_cluster, job_clip: Path) -> Path:
    out = job_clip.with_name("w1.mp4")
    vidx.render(job_clip, out, **job_options(workers=1))  # type: ignore[arg-type]
    return out


def test_two_workers_give_the_frames_timing_and_audio_of_one(one_worker, job_clip) -> None:
    out = job_clip.with_name("w2.mp4")
    seen: list[WorkerProgress] = []
    result = vidx.render(job_clip, out, **job_options(workers=2), on_progress=seen.append)  # type: ignore[arg-type]
    assert result.frames == FRAMES
    assert video_timestamps(out) == video_timestamps(one_worker) == video_timestamps(job_clip)
    audio = stream_duration(job_clip, "audio")
    assert stream_duration(out, "audio") == pytest.approx(audio, abs=0.03)
    assert stream_duration(one_worker, "audio") == pytest.approx(audio, abs=0.03)
    assert same_frames(out, one_worker) == []  # bit-identical: see docs/SCALING.md
    last = seen[-1]
    assert last.done == FRAMES and len(last.segments) == 2
    assert sum(last.segments.values()) == FRAMES // SEGMENT
    sidecar = json.loads(out.with_name("w2.mp4.json").read_text())
    assert sidecar["segments"] == FRAMES // SEGMENT and sidecar["restyle"]["name"] == "style"
    assert not parts_dir(out).exists()


def pair_errors(path: Path) -> list[float]:
    """Exact-motion warping error of each pair (t-1, t), t = 1..: the clip moves 2 px right per
    frame (flow (-2, 0)); the frame counter bar in the top rows is left out."""
    frames = decoded(path)
    h, w = frames[0].shape[:2]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = -2.0
    mask = np.ones((h, w), bool)
    mask[:6] = False
    mask[:, :2] = False
    errors = []
    for prev, cur in zip(frames, frames[1:], strict=False):
        e = temporal.exact_pair_warp_error(prev, cur, flow, mask)
        assert e is not None
        errors.append(e)
    return errors


def seam_figures(path: Path, seams: set[int]) -> tuple[list[float], float]:
    """The seam pairs' errors (pair t joins frames t-1 and t) and the mean of the others."""
    errors = pair_errors(path)
    seam = [e for t, e in enumerate(errors, start=1) if t in seams]
    inner = [e for t, e in enumerate(errors, start=1) if t not in seams]
    return seam, float(np.mean(inner))


def test_seams_are_as_steady_as_interior_pairs(one_worker, job_clip, tmp_path) -> None:
    """Measured on a lossless encode (crf 0), so the figures are the restyle's: a lossy
    segment starts with an IDR frame whose compression noise differs (docs/SCALING.md)."""
    seams = {s.first for s in plan_segments(scan_frames(job_clip), SEGMENT)[1:]}
    assert seams == {24, 48, 72}
    # a segment renders the same in this process as on Ray, so in-process runs stand for both
    here = tmp_path / "here.mp4"
    vidx.render(job_clip, here, **job_options(threads_per_worker=None))  # type: ignore[arg-type]
    assert same_frames(here, one_worker) == []

    def render(name: str, **kw: object) -> Path:
        out = tmp_path / name
        vidx.render(job_clip, out, **job_options(threads_per_worker=None, **kw))  # type: ignore[arg-type]
        return out

    primed = seam_figures(render("primed.mp4"), seams)
    straight = seam_figures(render("straight.mp4", segment_frames=0, keyframe_interval=0), seams)
    fresh = seam_figures(render("fresh.mp4", warmup_frames=0), seams)
    # a seam is as steady as the interior, and as the same pair of one unsegmented run
    assert np.mean(primed[0]) <= 1.15 * primed[1]
    assert all(p <= 1.15 * s for p, s in zip(primed[0], straight[0], strict=True))
    # the ruler sees a seam that is not primed (each segment starting fresh)
    assert np.mean(fresh[0]) > 1.15 * fresh[1]
    assert all(f > 1.15 * s for f, s in zip(fresh[0], straight[0], strict=True))


def test_a_killed_worker_has_its_segment_retried(one_worker, job_clip) -> None:
    out = job_clip.with_name("killed.mp4")
    killed: list[int] = []

    def kill_second(p: object) -> None:
        if isinstance(p, WorkerProgress) and not killed and p.done == 0:
            pid = list(p.segments)[1]  # busy with its first segment
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    result = vidx.render(job_clip, out, **job_options(workers=2), on_progress=kill_second)  # type: ignore[arg-type]
    assert killed and result.frames == FRAMES
    assert same_frames(out, one_worker) == []


def test_segments_through_the_object_store(one_worker, job_clip, monkeypatch) -> None:
    monkeypatch.setenv(TRANSPORT_ENV, "object")
    out = job_clip.with_name("object.mp4")
    vidx.render(job_clip, out, **job_options(workers=2))  # type: ignore[arg-type]
    assert same_frames(out, one_worker) == []


DRIVER = """
import sys
from pathlib import Path
import vidx

vidx.render(
    Path(sys.argv[1]), Path(sys.argv[2]), style="3", segment_frames=12, analysis_size=64,
    workers=2, threads_per_worker=1, overwrite=True, crf=0,
)
"""


def test_a_killed_driver_resumes_without_redoing_finished_segments(
    ray_cluster, job_clip, tmp_path
) -> None:
    out = tmp_path / "driver.mp4"
    manifest = parts_dir(out) / "manifest.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "driver.log").open("w")
    cmd = [sys.executable, "-c", textwrap.dedent(DRIVER), str(job_clip), str(out)]
    # a session of its own, so the driver's local Ray processes go with it (a lost machine)
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
    done: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not done:
        if manifest.exists():
            try:
                done = json.loads(manifest.read_text())["done"]
            except ValueError:
                pass  # (replaced atomically, but read between checks)
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing of it left
    assert done, (tmp_path / "driver.log").read_text()
    done = json.loads(manifest.read_text())["done"]
    assert 1 <= len(done) < FRAMES // 12 and not out.exists()
    seen: list[WorkerProgress] = []
    result = vidx.render(
        job_clip,
        out,
        **job_options(segment_frames=12, workers=2),  # type: ignore[arg-type]
        on_progress=seen.append,
    )
    assert result.frames == FRAMES
    assert seen[0].done == 12 * len(done)  # the finished segments are taken as they are
    assert sum(seen[-1].segments.values()) == FRAMES // 12 - len(done)
    assert video_timestamps(out) == video_timestamps(job_clip)


def test_without_ray_one_line_error(job_clip, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    out = tmp_path / "out.mp4"
    r = run_cli("restyle", job_clip, "-o", out, "--style", "3", "--workers", "2")
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'vidx[ray]'" in lines[0], r.output
    assert not out.exists() and not parts_dir(out).exists()
