"""One run per output: flock on a hidden file next to it, stale locks taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vidx.errors import OutputError
from vidx.io.lock import OutputLock, lock_path, read_holder

ROOT = Path(__file__).resolve().parents[3]

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vidx.io.lock import OutputLock
    lock = OutputLock([Path(p) for p in sys.argv[1:]], command="vidx upscale a.mp4 -o out.mp4")
    lock.acquire()
    print("locked", flush=True)
    time.sleep(30)
    """
)


def hold(*outputs: Path) -> subprocess.Popen:
    """A child process that locks ``outputs`` and sleeps (killed by the test)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, *map(str, outputs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_path_is_hidden_next_to_the_output(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "out.mp4") == tmp_path / ".out.mp4.vidx-lock"


def test_lock_records_the_run_and_release_removes_it(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with OutputLock(out, command="vidx upscale a.mp4\n -o out.mp4") as lock:
        holder = read_holder(lock_path(out))
        assert holder.pid == os.getpid() and holder.command == "vidx upscale a.mp4 -o out.mp4"
        assert holder.started is not None and abs(holder.started - time.time()) < 60
        assert lock.paths == [lock_path(out)]
    assert not lock_path(out).exists() and not out.exists()


def test_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with OutputLock(out, command="vidx first"):
        with pytest.raises(OutputError, match=rf"pid {os.getpid()}, started .*: vidx first\) "):
            OutputLock(out).acquire()
    with OutputLock(out):  # free again once released
        pass


def test_a_live_run_in_another_process_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = hold(out)
    try:
        with pytest.raises(OutputError) as info:
            OutputLock(out).acquire()
        message = str(info.value)
        assert message.startswith(f"another vidx run (pid {proc.pid}, started ")
        assert message.endswith(
            f": vidx upscale a.mp4 -o out.mp4) is writing {out}; wait for it or stop it"
        )
        assert "\n" not in message
    finally:
        proc.kill()
        proc.wait(5)


def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = hold(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    assert lock_path(out).exists()  # left behind, but no longer locked
    assert read_holder(lock_path(out)).pid == proc.pid
    with OutputLock(out, command="vidx again"):
        assert read_holder(lock_path(out)).pid == os.getpid()
    assert not lock_path(out).exists()


def test_several_outputs_all_or_none(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in ("a.mp4", "b.mp4", "c.mp4"))
    proc = hold(b)
    try:
        lock = OutputLock([c, a, b, a])
        assert lock.outputs == [a, b, c]
        with pytest.raises(OutputError, match="b.mp4"):
            lock.acquire()
        assert not lock.locked and not lock_path(a).exists()  # a was released again
        with OutputLock([a, c]):
            assert lock_path(a).exists() and lock_path(c).exists()
    finally:
        proc.kill()
        proc.wait(5)


def test_replaced_lock_file_is_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    path = lock_path(out)
    first = OutputLock(out)
    first.acquire()
    # simulate the takeover race: the holder's file vanishes and a new one appears
    path.unlink()
    path.write_text("{}")
    first.release()  # must not remove the file it does not own
    assert path.exists()
    with OutputLock(out):
        assert read_holder(path).pid == os.getpid()


def test_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot create the lock file .*folder exists"):
        OutputLock(tmp_path / "nope" / "out.mp4").acquire()


def test_lock_on_an_unlinked_inode_is_retried(tmp_path: Path, monkeypatch) -> None:
    """Open, then another run releases (unlinks) before our flock: lock the new file instead."""
    import fcntl

    out = tmp_path / "out.mp4"
    path = lock_path(out)
    path.write_text("{}")
    real = fcntl.flock
    calls = []

    def racing_flock(fd: int, op: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            path.unlink()  # the old holder releases...
            path.write_text("{}")  # ...and a new file appears (a third run's)
        real(fd, op)

    monkeypatch.setattr("vidx.io.lock.fcntl.flock", racing_flock)
    with OutputLock(out):
        assert len(calls) == 2
        st, held = os.stat(path), read_holder(path)
        assert held.pid == os.getpid() and st.st_size > 2
    assert not path.exists()
