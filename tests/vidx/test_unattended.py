"""Unattended runs: plain progress lines and phase messages when stderr is a file, -q and
--log, and --start/--duration as HH:MM:SS[.ms] or frame counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.conftest import make_clip, run_cli
from vidx.errors import OptionError
from vidx.options import TrimOptions

VIDX = Path(sys.executable).parent / "vidx"


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_progress_lines_when_stderr_is_a_file(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=24)
    out = tmp_path / "out.mp4"
    log = tmp_path / "stderr.txt"
    env = {**os.environ, "VIDX_PROGRESS_INTERVAL": "0"}
    env.pop("VIDX_PROGRESS", None)
    cmd = [str(VIDX), "upscale", str(src), "-o", str(out), "--size", "x2", "--segment-frames", "8"]
    with open(log, "w") as stderr:
        done = subprocess.run(cmd, stderr=stderr, stdout=subprocess.DEVNULL, env=env, timeout=120)
    assert done.returncode == 0, log.read_text()
    lines = log.read_text().splitlines()
    frames = [ln for ln in lines if " frames (" in ln]
    assert len(frames) >= 3, lines
    assert frames[-1].startswith("upscale: 24/24 frames (100%)")
    assert all("fps" in ln and "ETA" in ln for ln in frames)
    assert any("scanning the input" in ln for ln in lines)
    assert any("assembling out.mp4 from 3 segments" in ln for ln in lines)
    assert lines[-1].startswith("wrote ")


def test_quiet_shows_no_progress_and_log_gets_everything(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=6)
    log = tmp_path / "run.log"
    result = run_cli("-q", "--log", log, "upscale", src, "-o", tmp_path / "out.mp4")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    text = log.read_text()
    assert "upscale: 6/6 frames (100%)" in text
    assert "wrote " in text
    result = run_cli("upscale", src, "-o", tmp_path / "again.mp4")  # -q does not stick
    assert "wrote " in result.output


def test_log_records_errors(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = run_cli("--log", log, "upscale", tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4")
    assert result.exit_code == 2
    assert "error: " in log.read_text()
    bad = run_cli("--log", tmp_path / "no" / "such" / "dir.log", "probe", tmp_path / "x.mp4")
    assert bad.exit_code == 2 and "--log" in bad.output


@pytest.mark.parametrize(
    ("value", "want"),
    [(2, 2.0), ("1.5", 1.5), ("00:00:01.5", 1.5), ("1:30", 90.0), ("01:00:10", 3610.0)],
)
def test_times(value: object, want: float) -> None:
    assert TrimOptions(start=value).start == want  # type: ignore[arg-type]


def test_frame_counts_resolve_with_the_rate() -> None:
    trim = TrimOptions(start="12f", duration="6F")
    assert (trim.start, trim.duration) == ("12f", "6f")
    assert trim.seconds(24) == (0.5, 0.25)
    with pytest.raises(OptionError, match="frame rate"):
        trim.seconds(None)
    for bad in ("soon", "1:75", "0f", "-2"):
        with pytest.raises(OptionError):
            TrimOptions(duration=bad)


def test_start_and_duration_as_frames_and_clock(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=24, fps=24)
    out = tmp_path / "cut.mp4"
    result = run_cli("upscale", src, "-o", out, "--start", "6f", "--duration", "00:00:00.25")
    assert result.exit_code == 0, result.output
    assert frame_count(out) == 6
    out2 = tmp_path / "cut2.mp4"
    result = run_cli("upscale", src, "-o", out2, "--start", "00:00:00.5", "--duration", "10f")
    assert result.exit_code == 0, result.output
    assert frame_count(out2) == 10
    bad = run_cli("upscale", src, "-o", tmp_path / "bad.mp4", "--start", "later")
    assert bad.exit_code == 2
    assert bad.output.startswith("vidx: error: --start must be seconds")
    past = run_cli("upscale", src, "-o", tmp_path / "bad.mp4", "--start", "48f")
    assert past.exit_code == 2 and "past the end" in past.output


def test_progress_lines_of_a_ray_job_show_segments_per_worker() -> None:
    from vidx.console import progress_text
    from vidx.pipeline import Progress
    from vidx.scale.ray_runner import WorkerProgress

    line = progress_text("restyle", WorkerProgress(48, 96, 4.0, segments={101: 2, 102: 1}))
    assert line.startswith("restyle: 48/96 frames (50%), 12.0 fps")
    assert line.endswith(", segments per worker 2 + 1")
    assert "segments" not in progress_text("restyle", Progress(48, 96, 4.0))
