"""A fingerprint of an input file that catches any edit: SHA-256 of every byte, size, mtime.

A resumable job records :func:`fingerprint` of its input when it starts and compares on resume
with :func:`changed`; size and modification time alone miss an edit that keeps both (a tool
that patches bytes in place, or ``touch -r``), the content hash does not.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from vidx.errors import InputError
from vidx.io.inputs import check_regular_file

CHUNK = 1 << 20


def fingerprint(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "mtime_ns": int, "sha256": hex}`` of the file at ``path``.

    Reads the whole file once in chunks (constant memory). The path is checked to be a regular
    file first, so a FIFO never blocks here.

    Raises:
        InputError: not a regular file, unreadable, or changed while it was being read.
    """
    path = Path(path)
    check_regular_file(path)
    try:
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            digest = _sha256(f)
            after = os.fstat(f.fileno())
    except OSError as exc:
        raise InputError(f"input {path} cannot be read ({exc.strerror or exc})") from None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise InputError(
            f"input {path} changed while vidx was reading it; wait until it is complete"
        )
    return {"size": after.st_size, "mtime_ns": after.st_mtime_ns, "sha256": digest}


def changed(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why the file behind fingerprint ``new`` differs from ``old``, in a phrase; None if same.

    The content decides: same size and SHA-256 with a new modification time is the same file
    (a copy, a ``touch``) and gives None. When either side has no hash (an older record), equal
    size and ``mtime_ns`` are taken as unchanged.
    """
    if old.get("size") != new.get("size"):
        return f"its size changed from {old.get('size')} to {new.get('size')} bytes"
    if old.get("sha256") and new.get("sha256"):
        if old["sha256"] != new["sha256"]:
            return "its content changed (same size, different SHA-256)"
        return None
    if old.get("mtime_ns") != new.get("mtime_ns"):
        return "its modification time changed (no content hash recorded to compare)"
    return None


def _sha256(f: Any) -> str:
    if hasattr(hashlib, "file_digest"):  # Python 3.11+
        return hashlib.file_digest(f, "sha256").hexdigest()
    h = hashlib.sha256()
    for block in iter(lambda: f.read(CHUNK), b""):
        h.update(block)
    return h.hexdigest()
