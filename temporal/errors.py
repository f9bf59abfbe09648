"""Errors the temporal package raises on purpose.

Every one inherits ``ValueError`` so callers that only know the standard library can catch it;
``vidx`` maps :class:`FlowModelError` to its own ``ModelError``.
"""

from __future__ import annotations


class TemporalError(ValueError):
    """Base of the errors raised on purpose by ``temporal`` (bad argument, unusable model)."""


class FlowModelError(TemporalError):
    """A learned flow model (RAFT) cannot be loaded: no weights given, bad file, wrong keys."""
