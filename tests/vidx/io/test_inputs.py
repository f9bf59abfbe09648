"""Input checks before decoding: regular files only, pixel limits from the header."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from vidx.errors import InputError, OptionError
from vidx.io.inputs import (
    MAX_PIXELS,
    check_image_file,
    check_pixels,
    check_regular_file,
    image_size,
)


def within(seconds: float, fn, *args, **kwargs):
    """Run ``fn`` in a daemon thread; fail (instead of hanging) if it takes too long."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} blocked for more than {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says ``width x height`` (a tiny real PNG with its IHDR patched)."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_regular_files_and_links_pass(tmp_path: Path) -> None:
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x")
    link = tmp_path / "link.mp4"
    link.symlink_to(f)
    check_regular_file(f)
    check_regular_file(link)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.symlink_to(p.parent / "gone"), "is a broken symbolic link"),
    ],
)
def test_not_a_usable_file(tmp_path: Path, make, words: str) -> None:
    path = tmp_path / "in.mp4"
    make(path)
    with pytest.raises(InputError, match=f"^style image {path} {words}"):
        check_regular_file(path, "style image")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"named pipe \(FIFO\), not a regular file"):
        within(2, check_regular_file, fifo)
    with pytest.raises(InputError, match="FIFO"):
        within(2, image_size, fifo)  # the header reader checks first, never opens it


def test_socket_and_devices(tmp_path: Path) -> None:
    sock_path = tmp_path / "s.mp4"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(sock_path))
        with pytest.raises(InputError, match="is a socket"):
            check_regular_file(sock_path)
    finally:
        sock.close()
    with pytest.raises(InputError, match="character device"):
        within(2, check_regular_file, Path("/dev/zero"))
    check_regular_file(Path("/dev/zero"), allow_device=True)


def test_pixel_limit_message() -> None:
    check_pixels(16384, 16384)
    assert MAX_PIXELS == 16384 * 16384
    with pytest.raises(InputError) as info:
        check_pixels(30000, 30000, what="input a.png")
    message = str(info.value)
    assert message.startswith("input a.png is 30000x30000 (900 megapixels)")
    assert "--max-pixels 900000000" in message and "max_pixels" in message
    check_pixels(30000, 30000, limit=900_000_000)
    with pytest.raises(InputError, match="no pixels"):
        check_pixels(0, 10)
    with pytest.raises(OptionError, match="^max_pixels "):
        check_pixels(10, 10, limit=0)


def test_huge_png_is_refused_from_its_header(tmp_path: Path) -> None:
    path = huge_png(tmp_path / "bomb.png", 30000, 30000)
    assert path.stat().st_size < 1000
    started = time.perf_counter()
    assert image_size(path) == (30000, 30000)
    with pytest.raises(InputError, match="30000x30000.*--max-pixels"):
        check_image_file(path)
    assert time.perf_counter() - started < 0.5
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's own guard is back


def test_pillow_errors_become_one_line(tmp_path: Path) -> None:
    good = tmp_path / "ok.png"
    Image.new("RGB", (40, 30)).save(good)
    assert check_image_file(good) == (40, 30)
    text = tmp_path / "notes.png"
    text.write_text("not a picture\n")
    with pytest.raises(InputError, match="not a picture vidx can read"):
        image_size(text)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:20])
    with pytest.raises(InputError) as info:
        image_size(cut)
    assert "\n" not in str(info.value) and "cut.png" in str(info.value)
