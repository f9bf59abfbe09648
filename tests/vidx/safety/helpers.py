"""Shared checks for the safety tests: run the real CLI, then check it failed cleanly."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from vidx.cli import app

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def vidx(*args: str | Path) -> Result:
    """``vidx ARGS`` in this process (typer's runner), stderr kept apart."""
    return runner.invoke(app, [str(a) for a in args])


def vidx_process(
    *args: str | Path, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m vidx ARGS`` in a child process (for hangs and signals)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("VIDX_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "vidx", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_user_error(
    result: Result | subprocess.CompletedProcess, *needles: str, code: int = 2
) -> str:
    """Exit ``code``, exactly one line on stderr (containing every needle), no traceback,
    nothing "unexpected"; returns that line."""
    if isinstance(result, subprocess.CompletedProcess):
        exit_code, stderr, stdout = result.returncode, result.stderr, result.stdout
    else:
        exit_code, stderr, stdout = result.exit_code, result.stderr, result.stdout
    assert exit_code == code, f"exit {exit_code}\nstdout: {stdout}\nstderr: {stderr}"
    got = lines(stderr)
    assert len(got) == 1, stderr
    assert "Traceback" not in stderr + stdout and "error: unexpected" not in stderr, stderr
    for needle in needles:
        assert needle in got[0], got[0]
    return got[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder`` (relative path -> bytes, None for a folder),
    hidden ones included: compare before and after a refused run."""
    out: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            out[rel] = None
        elif stat.S_ISREG(mode):
            out[rel] = path.read_bytes()
        else:  # a FIFO, a link: never opened (reading a FIFO blocks)
            out[rel] = f"<{stat.filemode(mode)}>".encode()
    return out
