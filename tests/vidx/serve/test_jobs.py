"""The web UI's job queue with real (tiny) renders: order, places, cancel, resume, restart."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import av
import pytest

from tests.conftest import make_clip
from vidx.errors import OptionError
from vidx.serve.queue import CANCELLED, DONE, FAILED, WAITING, Job, JobQueue, run_job

STYLE = {"style": "19", "strength": 0.7}
ME = "browser:" + "0" * 32  # the owner every job here belongs to


def frames_of(path: str | Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "src.mp4", frames=12)


def test_two_jobs_run_one_after_the_other(tmp_path: Path, source: Path) -> None:
    queue = JobQueue(tmp_path / "state")
    a = queue.submit("render", source, STYLE, name="src.mp4", owner=ME)
    b = queue.submit("render", source, {"style": "3"}, name="src.mp4", owner=ME)
    assert queue.place(a.id) == 0 and queue.place(b.id) == 1
    queue.start()
    try:
        done_a, done_b = queue.wait(a.id, ME, 120), queue.wait(b.id, ME, 120)
    finally:
        queue.stop()
    assert done_a and done_b and done_a.state == DONE and done_b.state == DONE
    assert done_a.finished and done_b.started and done_b.started >= done_a.finished
    assert done_a.frames == 12 and frames_of(done_a.files[0]) == 12
    assert [Path(f).name for f in done_a.files] == ["src-vidx.mp4", "src-vidx.mp4.json"]
    saved = json.loads((tmp_path / "state" / "jobs.json").read_text())
    assert [j["state"] for j in saved["jobs"]] == [DONE, DONE]


def test_bad_options_queue_nothing(tmp_path: Path, source: Path) -> None:
    queue = JobQueue(tmp_path / "state")
    with pytest.raises(OptionError, match="strength"):
        queue.submit("render", source, {"style": "3", "strength": 3.0}, owner=ME)
    with pytest.raises(OptionError, match="did you mean"):
        queue.submit("render", source, {"style": "blue-swirk"}, owner=ME)
    assert queue.all() == []


def test_a_failed_job_says_why_in_one_line(tmp_path: Path, source: Path) -> None:
    queue = JobQueue(tmp_path / "state")
    submitted = queue.submit("render", source, STYLE, owner=ME)
    source.unlink()  # gone before its turn came
    queue.start()
    try:
        job = queue.wait(submitted.id, ME, 60)
    finally:
        queue.stop()
    assert job and job.state == FAILED and job.error and "does not exist" in job.error
    assert "\n" not in job.error


def test_cancel_keeps_segments_and_resume_finishes(tmp_path: Path, source: Path) -> None:
    cancelled = threading.Event()
    seen: list[int] = []

    def runner(job: Job, progress) -> None:  # noqa: ANN001 - the queue's callback
        def spy(done: int, total: int | None, fps: float, phase: str | None = None) -> None:
            seen.append(done)
            if done == 6 and not cancelled.is_set():
                cancelled.set()
                queue.cancel(job.id, ME)
            progress(done, total, fps, phase)

        run_job(job, spy)

    queue = JobQueue(tmp_path / "state", runner=runner).start()
    try:
        job = queue.submit("render", source, {**STYLE, "segment_frames": 4}, owner=ME)
        first = queue.wait(job.id, ME, 60)
        assert first and first.state == CANCELLED and "segments kept" in (first.note or "")
        assert not Path(job.output).exists()
        manifest = json.loads((Path(job.output + ".parts") / "manifest.json").read_text())
        assert manifest["done"] == [0]
        seen.clear()
        assert queue.resume(job.id, ME)
        second = queue.wait(job.id, ME, 60)
    finally:
        queue.stop()
    assert second and second.state == DONE and frames_of(second.files[0]) == 12
    assert [d for d in seen if d][0] == 5  # continued after the kept segment 0 (frames 1-4)


def test_restart_resumes_unfinished_jobs(tmp_path: Path, source: Path) -> None:
    state = tmp_path / "state"
    first = JobQueue(state)
    job = first.submit("render", source, STYLE, owner=ME)
    data = json.loads((state / "jobs.json").read_text())
    data["jobs"][0]["state"] = "running"  # as a server killed mid-job leaves it
    (state / "jobs.json").write_text(json.dumps(data))
    again = JobQueue(state)
    assert again.get(job.id, ME).state == WAITING
    assert "restart" in (again.get(job.id, ME).note or "")
    again.start()
    try:
        finished = again.wait(job.id, ME, 60)
    finally:
        again.stop()
    assert finished and finished.state == DONE and frames_of(finished.files[0]) == 12


def test_preview_job_writes_the_sheet(tmp_path: Path, source: Path) -> None:
    queue = JobQueue(tmp_path / "state").start()
    try:
        job = queue.submit(
            "preview", source, {"style": "19"}, vary={"strength": [0.5, 1.0]}, owner=ME
        )
        done = queue.wait(job.id, ME, 60)
    finally:
        queue.stop()
    assert done and done.state == DONE and done.files[0].endswith("src-preview.png")
    assert Path(done.files[0]).stat().st_size > 0


def test_a_server_stop_mid_job_leaves_it_queued_for_the_next_start(
    tmp_path: Path, source: Path
) -> None:
    state = tmp_path / "state"
    running = threading.Event()

    def runner(job: Job, progress) -> None:  # noqa: ANN001 - the queue's callback
        def spy(done: int, total: int | None, fps: float, phase: str | None = None) -> None:
            if done == 6:
                running.set()
                time.sleep(0.5)  # the stop arrives here
            progress(done, total, fps, phase)

        run_job(job, spy)

    first = JobQueue(state, runner=runner).start()
    job = first.submit("render", source, {**STYLE, "segment_frames": 4}, owner=ME)
    assert running.wait(60)
    first.stop()
    stopped = JobQueue(state).get(job.id, ME)
    assert stopped and stopped.state == WAITING and "server stop" in (stopped.note or "")
    second = JobQueue(state).start()
    try:
        done = second.wait(job.id, ME, 60)
    finally:
        second.stop()
    assert done and done.state == DONE and frames_of(done.files[0]) == 12
