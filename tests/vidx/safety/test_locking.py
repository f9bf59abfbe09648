"""Issue 9, case 2: two runs to the same ``-o``. The second exits 2 naming the first (its pid);
a stale lock file left by a dead run is taken over; no lock file stays behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx
from vidx.io.lock import OutputLock, lock_path


def test_second_run_to_the_same_output_is_refused(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    with OutputLock([out], command="vidx upscale other.mp4 -o out.mp4"):
        before = snapshot(tmp_path)
        for extra in ([], ["--overwrite"], ["--segment-frames", "0"]):
            result = vidx("upscale", src, "-o", out, *extra)
            line = assert_user_error(result, f"pid {os.getpid()}", "vidx upscale other.mp4")
            assert "another vidx run" in line
            assert snapshot(tmp_path) == before  # nothing written, the holder's lock file kept
    assert not lock_path(out).exists()
    assert snapshot(tmp_path) == {"in.mp4": src.read_bytes()}


def test_finished_output_of_the_first_run_is_not_replaced(clip, tmp_path: Path) -> None:
    """The first run finished while the second waited its turn: still refused (it exists)."""
    src = clip("in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    assert vidx("upscale", src, "-o", out, "--size", "x2").exit_code == 0
    first = out.read_bytes()
    assert_user_error(vidx("upscale", src, "-o", out), "already exists")
    assert out.read_bytes() == first and not lock_path(out).exists()


def test_variants_lock_every_output(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    outdir = tmp_path / "outs"
    outdir.mkdir()
    job = tmp_path / "job.toml"
    job.write_text(
        '[shared]\nupscaler = "lanczos"\n\n[variants.a]\nstyle = 1\n[variants.b]\nstyle = 2\n'
    )
    with OutputLock([outdir / "b.mp4"], command="vidx restyle x.mp4 -o outs/b.mp4"):
        before = snapshot(tmp_path)
        result = vidx("variants", src, "--job", job, "-o", outdir)
        assert_user_error(result, f"pid {os.getpid()}", "b.mp4")
        assert snapshot(tmp_path) == before  # a.mp4 was not started either


def test_preview_locks_its_sheet(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    sheet = tmp_path / "sheet.png"
    with OutputLock([sheet], command="vidx preview"):
        before = snapshot(tmp_path)
        result = vidx(
            "preview", src, "-o", sheet, "--style", "1", "--frames", "1", "--cell-width", "64"
        )
        assert_user_error(result, f"pid {os.getpid()}")
        assert snapshot(tmp_path) == before


def test_stale_lock_of_a_dead_run_is_taken_over(clip, tmp_path: Path) -> None:
    """A lock file whose holder died (nobody holds the flock) does not block the next run."""
    src = clip("in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    record = {"pid": 2**22 + 17, "host": "gone", "started": 0, "command": "vidx upscale"}
    lock_path(out).write_text(json.dumps(record) + "\n")
    result = vidx("upscale", src, "-o", out, "--size", "x2")
    assert result.exit_code == 0, result.stderr
    assert out.exists() and not lock_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "out.mp4.json"]
