"""Keep library chatter off stderr: Python warnings collected as short lines, library logs cut.

diffusers, transformers and huggingface_hub log warnings such as "Defaulting to unsafe
serialization" through their own stderr handlers, and torch raises multi-line ``UserWarning``s.
Inside :func:`quiet_libraries` none of it is printed: each distinct warning becomes one short
line in the list the context yields (for the CLI to show once, briefly), and those libraries
log only errors. Nothing is imported: a library first imported inside the context picks the
level up from its ``*_VERBOSITY`` environment variable.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

# library logger -> the environment variable it reads its level from when first configured
LIBRARIES: dict[str, str | None] = {
    "diffusers": "DIFFUSERS_VERBOSITY",
    "transformers": "TRANSFORMERS_VERBOSITY",
    "huggingface_hub": "HF_HUB_VERBOSITY",
    "accelerate": None,
}
MAX_LINE = 160
_LOUD: ContextVar[bool] = ContextVar("vidx_libraries_loud", default=False)


def libraries_loud() -> bool:
    """Whether the caller asked for the libraries' own output in full (``quiet_libraries``
    with ``verbose``, ``vidx -v``); libraries vidx configures itself (Ray) stay quiet
    otherwise."""
    return _LOUD.get()


def warning_line(message: Warning | str, category: type[Warning]) -> str:
    """``"UserWarning: first line of the message"``, at most ``MAX_LINE`` characters."""
    lines = str(message).strip().splitlines()
    text = f"{category.__name__}: {lines[0].strip() if lines else ''}".rstrip(": ")
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


@contextmanager
def quiet_libraries(verbose: bool = False) -> Iterator[list[str]]:
    """Collect warnings and lower library logging to errors for the duration of the context.

    Yields a list that fills as warnings arrive (from any thread): one line per distinct
    warning (category and first line of the message, see :func:`warning_line`). Warning
    filters stay as they are (ignored categories stay ignored; ``error`` still raises).
    The libraries in ``LIBRARIES`` log at ERROR and above; a ``*_VERBOSITY`` variable the user
    set is respected. Everything is restored on exit.

    ``verbose`` True changes nothing: warnings and logs reach stderr in full, the list
    stays empty, and :func:`libraries_loud` says so inside the context.
    """
    notes: list[str] = []
    if verbose:
        token = _LOUD.set(True)
        try:
            yield notes
        finally:
            _LOUD.reset(token)
        return
    seen: set[str] = set()

    def collect(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = warning_line(message, category)
        if text not in seen:
            seen.add(text)
            notes.append(text)

    saved_env: list[str] = []
    saved_levels: list[tuple[logging.Logger, int]] = []
    with warnings.catch_warnings():
        warnings.showwarning = collect
        try:
            for name, env in LIBRARIES.items():
                if env is not None and env in os.environ:
                    continue  # the user chose this library's verbosity
                if env is not None:
                    os.environ[env] = "error"
                    saved_env.append(env)
                logger = logging.getLogger(name)
                saved_levels.append((logger, logger.level))
                if logger.getEffectiveLevel() < logging.ERROR:
                    logger.setLevel(logging.ERROR)
            yield notes
        finally:
            for env in saved_env:
                os.environ.pop(env, None)
            for logger, level in saved_levels:
                logger.setLevel(level)
