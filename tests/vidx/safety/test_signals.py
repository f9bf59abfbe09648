"""Issue 9, case 3: SIGTERM (``timeout``, docker, systemd) and SIGHUP stop a run like Ctrl-C:
exit 143/129, no ``OUTPUT.part`` left, one line saying what was kept and how to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_clip
from tests.vidx.safety.helpers import ROOT, assert_user_error, vidx_process
from vidx.io.lock import lock_path


def start(src: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("VIDX_DEBUG", None)
    cmd = [
        sys.executable,
        "-m",
        "vidx",
        "upscale",
        str(src),
        "-o",
        str(out),
        "--size",
        "x4",
        *extra,
    ]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(proc: subprocess.Popen, ready, what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()}")
        if ready():
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no {what} after {limit} s")


def stop(proc: subprocess.Popen, sig: int) -> subprocess.CompletedProcess:
    proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop within 60 s of the signal")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture
def long_clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", frames=240, size=(160, 120))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_a_plain_run(long_clip: Path, tmp_path: Path, sig: int, code: int) -> None:
    out = tmp_path / "out.mp4"
    part = tmp_path / "out.mp4.part"
    data = long_clip.read_bytes()
    proc = start(long_clip, out, "--segment-frames", "0")
    wait_for(proc, lambda: part.exists() and part.stat().st_size > 0, "out.mp4.part")
    result = stop(proc, sig)
    line = assert_user_error(result, f"stopped by {signal.Signals(sig).name}", code=code)
    assert "partial output removed" in line
    assert long_clip.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no .part, sidecar, lock


def test_sigterm_keeps_finished_segments_and_resumes(long_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    manifest = tmp_path / "out.mp4.parts" / "manifest.json"

    def one_segment_done() -> bool:
        try:
            return bool(json.loads(manifest.read_text())["done"])
        except (OSError, ValueError, KeyError):
            return False

    proc = start(long_clip, out, "--segment-frames", "24")
    wait_for(proc, one_segment_done, "finished segment")
    result = stop(proc, signal.SIGTERM)
    line = assert_user_error(result, "stopped by SIGTERM", code=143)
    assert "finished segments kept in" in line and "out.mp4.parts" in line and "resume" in line
    assert not out.exists() and not (tmp_path / "out.mp4.part").exists()
    assert not lock_path(out).exists()
    done = json.loads(manifest.read_text())["done"]
    assert done and not list(manifest.parent.glob("*.part"))
    # the same command again resumes and finishes
    again = vidx_process(
        "upscale", long_clip, "-o", out, "--size", "x4", "--segment-frames", "24", timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "out.mp4.json"]
