"""Issue 9, case 7: hangs and exhaustion. A FIFO as the input or ``--style-image`` is refused
at once (never opened), and a 30000x30000 PNG (a small PNG with its header patched) is refused
from its header, as the input and as ``--style-image``. Each runs in a child process with a
timeout, so a regression fails instead of hanging the suite."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx_process

LIMIT_S = 30  # a refusal is quick; the budget covers the child's imports on a loaded machine


def huge_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A small PNG whose IHDR claims ``width x height`` (CRC fixed, so readers accept it)."""
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    with pytest.raises(Image.DecompressionBombError):  # a valid header that says so
        Image.open(path)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def run(*args: str | Path):
    started = time.monotonic()
    result = vidx_process(*args, timeout=LIMIT_S)
    return result, time.monotonic() - started


@pytest.mark.parametrize("command", ["upscale", "restyle", "probe", "preview", "metrics"])
def test_fifo_as_input(tmp_path: Path, command: str) -> None:
    pipe = fifo(tmp_path / "pipe.mp4")
    before = snapshot(tmp_path)
    out = tmp_path / ("sheet.png" if command == "preview" else "out.mp4")
    args = {
        "probe": ["probe", pipe],
        "metrics": ["metrics", pipe, pipe],
        "preview": ["preview", pipe, "-o", out],
    }.get(command, [command, pipe, "-o", out])
    result, _ = run(*args)
    assert_user_error(result, "pipe.mp4", "named pipe")
    assert snapshot(tmp_path) == before


def test_fifo_as_style_image(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    pipe = fifo(tmp_path / "style.png")
    before = snapshot(tmp_path)
    result, _ = run("restyle", src, "-o", tmp_path / "out.mp4", "--style-image", pipe)
    assert_user_error(result, "style.png", "named pipe")
    assert snapshot(tmp_path) == before


def test_fifo_as_metrics_output(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    pipe = fifo(tmp_path / "out.mp4")
    result, _ = run("metrics", src, pipe)
    assert_user_error(result, "out.mp4", "named pipe")


@pytest.mark.parametrize("command", ["upscale", "restyle", "probe"])
def test_huge_png_as_input(tmp_path: Path, command: str) -> None:
    bomb = huge_png(tmp_path / "bomb.png")
    before = snapshot(tmp_path)
    args = ["probe", bomb] if command == "probe" else [command, bomb, "-o", tmp_path / "out.png"]
    result, _ = run(*args)
    if command == "probe" and result.returncode == 0:
        # probe hands a picture to FFmpeg, which refuses the size and describes it as 0x0: no
        # memory spent and nothing written (what this test is about); one describing line
        assert "bomb.png" in result.stdout and not result.stderr.strip()
    else:
        assert_user_error(result, "bomb.png", "30000x30000", "--max-pixels")
    assert snapshot(tmp_path) == before


def test_huge_png_as_style_image(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    bomb = huge_png(tmp_path / "bomb.png")
    before = snapshot(tmp_path)
    result, _ = run("restyle", src, "-o", tmp_path / "out.mp4", "--style-image", bomb)
    assert_user_error(result, "bomb.png", "30000x30000", "--max-pixels")
    assert snapshot(tmp_path) == before


def test_max_pixels_lowers_the_limit(clip, tmp_path: Path) -> None:
    """The limit applies to video frames too (from the header), and can be set lower."""
    src = clip("in.mp4", frames=6)  # 96x64
    before = snapshot(tmp_path)
    result, _ = run("upscale", src, "-o", tmp_path / "out.mp4", "--max-pixels", "1000")
    assert_user_error(result, "96x64", "--max-pixels")
    assert snapshot(tmp_path) == before
