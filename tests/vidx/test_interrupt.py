"""SIGTERM/SIGHUP become Terminated (a KeyboardInterrupt) so cleanup runs; exit code 128+N."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from vidx.jobs.interrupt import Terminated, terminate_as_interrupt

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from vidx.jobs.interrupt import Terminated, terminate_as_interrupt
    sig = getattr(signal, sys.argv[1])
    try:
        with terminate_as_interrupt():
            try:
                os.kill(os.getpid(), sig)
                time.sleep(10)
            except KeyboardInterrupt:
                print("cleanup", flush=True)  # the Ctrl-C path runs
                os.kill(os.getpid(), sig)  # a second signal does not cut it short
                time.sleep(0.05)
                raise
    except Terminated as exc:
        sys.exit(exc.exit_code)
    """
)


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_signal_runs_cleanup_and_exits_128_plus_n(name: str, code: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, name], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "cleanup\n"


def test_handlers_are_restored_and_terminated_is_an_interrupt() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as info:
        with terminate_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is not before
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # (the handler raises before this returns)
    assert isinstance(info.value, Terminated) and info.value.signum == signal.SIGTERM
    assert info.value.exit_code == 143 and str(info.value) == "stopped by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_noop_outside_the_main_thread() -> None:
    seen = []

    def worker() -> None:
        with terminate_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert seen == [before]
