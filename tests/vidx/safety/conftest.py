"""The safety tests check that a refusal is exactly one line on stderr: the plain progress
lines a run prints when stderr is not a terminal (tested in tests/vidx/test_unattended.py) are
switched off here, in this process and the child processes it starts."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_progress_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDX_PROGRESS_INTERVAL", "off")
