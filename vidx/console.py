"""How the ``vidx`` command speaks: stderr (a rich bar on a terminal, plain lines elsewhere),
``-q/--quiet`` and ``--log FILE``. Part of the CLI layer; the library never prints.

Convention: progress reaches the CLI as :class:`vidx.pipeline.Progress` through the callback
of a job; one with a ``phase`` is a phase message ("loading models", "assembling ..."). When
stderr is not a terminal (a farm, nohup, docker logs) progress is a plain line every
``VIDX_PROGRESS_INTERVAL`` seconds (5 by default; ``off`` for none): frames done, fps and the
time left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from vidx.pipeline import Progress

DEFAULT_INTERVAL = 5.0
STATE: dict[str, object] = {"quiet": False, "log": None}


def progress_interval() -> float | None:
    """Seconds between plain progress lines (``VIDX_PROGRESS_INTERVAL``; ``off``: none)."""
    value = os.environ.get("VIDX_PROGRESS_INTERVAL", "").strip().lower()
    if value in ("off", "none", "no"):
        return None
    try:
        return max(0.0, float(value)) if value else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def quiet() -> bool:
    return bool(STATE["quiet"])


def open_log(path: Path) -> None:
    """Append every message of this run (progress lines included) to ``path``."""
    STATE["log"] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - for the run


def close_log() -> None:
    log = STATE["log"]
    if log is not None:
        log.close()  # type: ignore[attr-defined]
        STATE["log"] = None


def log(text: str) -> None:
    """One timestamped line in the ``--log`` file (nothing without one)."""
    file: TextIO | None = STATE["log"]  # type: ignore[assignment]
    if file is not None:
        file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def clock(seconds: float) -> str:
    """``H:MM:SS``."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_text(label: str, p: Progress) -> str:
    """``upscale: 120/270 frames (44%), 23.5 fps, ETA 0:00:06, elapsed 0:00:05``."""
    if p.phase:
        return f"{label}: {p.phase}"
    done = f"{p.done}/{p.total}" if p.total else f"{p.done}"
    share = f" ({100 * p.done / p.total:.0f}%)" if p.total else ""
    eta = ""
    if p.total and p.fps > 0:
        eta = f", ETA {clock(max(0, p.total - p.done) / p.fps)}"
    line = f"{label}: {done} frames{share}, {p.fps:.1f} fps{eta}, elapsed {clock(p.elapsed)}"
    workers = worker_text(p)
    return f"{line}, {workers}" if workers else line


def worker_text(p: Progress) -> str:
    """``segments per worker 2 + 1`` for a job on Ray (its progress carries ``segments``, done
    per worker process); empty for any other job."""
    segments: dict[int, int] = getattr(p, "segments", None) or {}
    if not segments:
        return ""
    return "segments per worker " + " + ".join(str(n) for n in segments.values())


class PlainProgress:
    """A progress callback that calls ``write`` with a plain line at most every ``interval``
    seconds (and at the last frame); phase messages are written at once."""

    def __init__(self, label: str, write: Callable[[str], None], interval: float) -> None:
        self.label, self.write, self.interval = label, write, interval
        self.last: float | None = None

    def __call__(self, p: Progress) -> None:
        if p.phase:
            self.write(progress_text(self.label, p))
            return
        now = time.monotonic()
        final = p.total is not None and p.done >= p.total
        if self.last is None or now - self.last >= self.interval or final:
            self.last = now
            self.write(progress_text(self.label, p))


def fan_out(*callbacks: Callable[[Progress], None] | None) -> Callable[[Progress], None]:
    """One callback calling each of ``callbacks`` (None ones left out)."""
    live = [c for c in callbacks if c is not None]

    def call(p: Progress) -> None:
        for c in live:
            c(p)

    return call
