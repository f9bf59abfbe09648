"""SIGTERM and SIGHUP as a ``KeyboardInterrupt``, so every cleanup path runs for them too.

Python turns Ctrl-C into ``KeyboardInterrupt`` but dies silently on SIGTERM (``kill``, a job
scheduler, systemd) and SIGHUP (a closed terminal): ``finally`` blocks and ``except
BaseException`` cleanups never run and half-written outputs stay behind. Inside
:func:`terminate_as_interrupt` those signals raise :class:`Terminated` (a ``KeyboardInterrupt``)
in the main thread instead, so the same cleanup that handles Ctrl-C handles them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = tuple(
    sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig
)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by ``signum``; exit with ``exit_code`` (128 + signum)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")


@contextmanager
def terminate_as_interrupt(signals: tuple[int, ...] = SIGNALS) -> Iterator[None]:
    """While active, ``signals`` (default SIGTERM, SIGHUP) raise :class:`Terminated`.

    Only the first signal raises; later ones are ignored until the context ends, so a second
    ``kill`` cannot cut the cleanup short (SIGKILL still can). The previous handlers come back
    on exit. Outside the main thread (where Python cannot install handlers) it does nothing.
    The CLI catches ``Terminated`` after cleanup and exits with ``exc.exit_code`` (143, 129).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Terminated(signum)

    previous = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
