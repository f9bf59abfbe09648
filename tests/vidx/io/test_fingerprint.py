"""Input fingerprints: one byte edited in place, size and mtime kept, is still caught."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidx.errors import InputError
from vidx.io.fingerprint import changed, fingerprint


def test_same_file_same_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "in.mp4"
    path.write_bytes(os.urandom(300_000))
    first = fingerprint(path)
    assert set(first) == {"size", "mtime_ns", "sha256"} and first["size"] == 300_000
    assert changed(first, fingerprint(path)) is None


def test_one_byte_edited_in_place_with_size_and_mtime_kept(tmp_path: Path) -> None:
    path = tmp_path / "in.mp4"
    path.write_bytes(os.urandom(3_000_000))
    old = fingerprint(path)
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(1_500_000)
        byte = f.read(1)
        f.seek(1_500_000)
        f.write(bytes([byte[0] ^ 1]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    new = fingerprint(path)
    assert (new["size"], new["mtime_ns"]) == (old["size"], old["mtime_ns"])
    assert changed(old, new) == "its content changed (same size, different SHA-256)"


def test_size_and_touch(tmp_path: Path) -> None:
    path = tmp_path / "in.mp4"
    path.write_bytes(b"abc")
    old = fingerprint(path)
    os.utime(path, ns=(0, old["mtime_ns"] + 10**9))
    assert changed(old, fingerprint(path)) is None  # touched only: same content
    path.write_bytes(b"abcd")
    assert changed(old, fingerprint(path)) == "its size changed from 3 to 4 bytes"


def test_record_without_hash_falls_back_to_mtime(tmp_path: Path) -> None:
    old = {"size": 3, "mtime_ns": 5}
    assert changed(old, {"size": 3, "mtime_ns": 5, "sha256": "ab"}) is None
    assert "modification time" in (changed(old, {"size": 3, "mtime_ns": 6}) or "")


def test_fifo_and_missing_are_input_errors(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        fingerprint(fifo)
    with pytest.raises(InputError, match="does not exist"):
        fingerprint(tmp_path / "none.mp4")
