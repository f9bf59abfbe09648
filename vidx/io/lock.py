"""One run per output: an exclusive ``flock`` on a hidden file next to each output path.

A run locks every output it will write before it touches any of them and holds the locks to
the end, so two vidx runs can never write (or clean up) the same file at once. The lock file
``.NAME.vidx-lock`` sits in the output's folder and holds one JSON line naming its holder (pid,
host, start time, command line), which is what the refusal message shows.

The lock is the kernel's ``flock``, not the file's existence: a run that dies (even by SIGKILL)
loses its lock at once, and the next run takes the leftover file over. Locks belong to the open
file, so two :class:`OutputLock` on the same output conflict even inside one process.

Convention: lock files are created ``0o644``, opened close-on-exec, and removed on release.
A forked child (``multiprocessing`` with fork) inherits the open file and so the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from vidx.errors import OutputError

SUFFIX = ".vidx-lock"
RETRIES = 20  # takeover races lost in a row before giving up (each one means another run won)


def lock_path(output: Path) -> Path:
    """The lock file for ``output``: ``.NAME.vidx-lock`` in the same folder."""
    output = Path(output)
    return output.parent / f".{output.name}{SUFFIX}"


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written into the lock file (fields may be missing when unreadable)."""

    pid: int | None = None
    host: str | None = None
    started: float | None = None  # seconds since the epoch
    command: str | None = None

    def describe(self) -> str:
        """``pid 1234, started 18:02:11: vidx upscale a.mp4 -o out.mp4`` (what is known)."""
        parts = []
        if self.pid is not None:
            here = self.host in (None, socket.gethostname())
            parts.append(f"pid {self.pid}" + ("" if here else f" on {self.host}"))
        if self.started is not None:
            local = time.localtime(self.started)
            same_day = time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d")
            stamp = "%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S"
            parts.append("started " + time.strftime(stamp, local))
        text = ", ".join(parts)
        if self.command:
            text = f"{text}: {self.command}" if text else self.command
        return text


def read_holder(path: Path) -> Holder:
    """The holder recorded in lock file ``path``; an empty :class:`Holder` when unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return Holder()
    if not isinstance(data, dict):
        return Holder()
    pid, started, host, command = (data.get(k) for k in ("pid", "started", "host", "command"))
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        host=host if isinstance(host, str) else None,
        started=float(started) if isinstance(started, (int, float)) else None,
        command=command if isinstance(command, str) else None,
    )


class OutputLock:
    """Exclusive locks on one or more output paths, held from :meth:`acquire` to :meth:`release`.

    ``command`` is a short description of this run (the command line) shown to a second run that
    is refused. Paths are locked in sorted order (two runs sharing outputs cannot deadlock, and
    with non-blocking locks the loser fails fast); if any is held elsewhere, the ones already
    taken are released and :class:`~vidx.errors.OutputError` names the holder::

        with OutputLock([out], command="vidx upscale a.mp4 -o out.mp4"):
            ...  # write out.mp4

    Raises:
        OutputError: another live process holds a lock, or a lock file cannot be created
            (missing or read-only folder).
    """

    def __init__(self, outputs: Path | str | Iterable[Path | str], command: str = "vidx") -> None:
        if isinstance(outputs, (str, os.PathLike)):
            outputs = [outputs]
        self.outputs = sorted({Path(p) for p in outputs}, key=lambda p: str(lock_path(p)))
        self.command = " ".join(command.split())  # one line
        self._held: list[tuple[Path, int]] = []  # (lock file, fd)

    @property
    def locked(self) -> bool:
        return bool(self._held)

    @property
    def paths(self) -> list[Path]:
        """The lock files (to include in the derived-path checks: never an input, never kept)."""
        return [lock_path(p) for p in self.outputs]

    def acquire(self) -> None:
        """Lock every output, or none: on any failure the locks taken so far are released."""
        if self._held:
            raise RuntimeError("OutputLock.acquire called twice")
        try:
            for output in self.outputs:
                self._held.append((lock_path(output), self._lock_one(output)))
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Remove the lock files and drop the locks (safe to call more than once)."""
        while self._held:
            path, fd = self._held.pop()
            # unlink while still locked: a run waiting on this inode then sees it was replaced
            with contextlib.suppress(OSError):
                if _same_file(fd, path):
                    path.unlink()
            os.close(fd)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _lock_one(self, output: Path) -> int:
        path = lock_path(output)
        for _ in range(RETRIES):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise OutputError(
                    f"cannot create the lock file {path} for {output} "
                    f"({exc.strerror or exc}); check that the folder exists and is writable"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputError(f"cannot lock {path} ({exc.strerror or exc})") from None
                raise OutputError(_busy_message(output, path)) from None
            # the file may have been released (unlinked) between our open and our lock: then we
            # hold a lock on a dead inode, and another run may already own a fresh file. Retry.
            if not _same_file(fd, path):
                os.close(fd)
                continue
            try:
                _write_holder(fd, self.command)
            except OSError as exc:
                os.close(fd)
                raise OutputError(
                    f"cannot write the lock file {path} ({exc.strerror or exc})"
                ) from None
            return fd
        raise OutputError(f"cannot lock {output}: other vidx runs keep replacing {path}")


def _same_file(fd: int, path: Path) -> bool:
    """True when ``path`` still names the inode open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int, command: str) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "command": command,
    }
    data = (json.dumps(record) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _busy_message(output: Path, path: Path) -> str:
    holder = read_holder(path)
    for _ in range(5):  # the holder may have locked but not yet written its record
        if holder.pid is not None:
            break
        time.sleep(0.01)
        holder = read_holder(path)
    who = holder.describe()
    run = f"another vidx run ({who})" if who else "another vidx run"
    return f"{run} is writing {output}; wait for it or stop it"
