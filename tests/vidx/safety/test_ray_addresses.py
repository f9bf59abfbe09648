"""Issue 23, part 3: every bad or unreachable Ray address is one line naming it, exit 2, within
``--ray-timeout``, with none of Ray's own log lines and nothing written; without Ray, the line
names the flag that asked for it."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx, vidx_process

TIMEOUT = "3"  # --ray-timeout for these runs
LIMIT = 30.0  # seconds a refusal may take, the child's start-up included


@pytest.fixture(autouse=True)
def no_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture
def ray_installed() -> None:
    pytest.importorskip("ray", reason="Ray is the optional extra vidx[ray]")


def free_port() -> int:
    """A local port where nothing listens (bound, read, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A local TCP server on a free port; each connection goes to ``answer``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    done = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)
            answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def refused(clip, tmp_path: Path, *args: str, needle: str) -> str:
    """Run ``vidx upscale`` on Ray with ``args`` in a child process; check the refusal."""
    src = clip("in.mp4", frames=12)
    before = snapshot(tmp_path)
    started = time.monotonic()
    result = vidx_process(
        "upscale", src, "-o", tmp_path / "out.mp4", "--segment-frames", "4",
        "--ray-timeout", TIMEOUT, *args, timeout=LIMIT + 30,
    )  # fmt: skip
    took = time.monotonic() - started
    line = assert_user_error(result, needle)
    assert took < LIMIT, f"{took:.1f} s: {line}"
    assert " W " not in result.stderr and "rpc_client" not in result.stderr  # Ray's own lines
    assert snapshot(tmp_path) == before
    return line


@pytest.mark.parametrize("address", ["garbage!!", "garbage", "host:", ":6379", "http://x:1"])
def test_malformed_address(ray_installed, clip, tmp_path: Path, address: str) -> None:
    line = refused(clip, tmp_path, "--ray", address, needle=repr(address))
    assert line.startswith("vidx: error: --ray ") and "not a Ray address" in line


def test_nothing_listening(ray_installed, clip, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    line = refused(clip, tmp_path, "--ray", address, needle=f"--ray {address}")
    assert "nothing listens" in line


def test_listening_but_silent(ray_installed, clip, tmp_path: Path) -> None:
    """A port that accepts and never answers: refused after --ray-timeout, not minutes."""
    with server(lambda conn: None) as port:
        line = refused(clip, tmp_path, "--ray", f"127.0.0.1:{port}", needle=f"127.0.0.1:{port}")
    assert f"within {TIMEOUT} s" in line


def test_not_a_ray_cluster(ray_installed, clip, tmp_path: Path) -> None:
    """A web server on the port (the dashboard's, say): ray.init would retry for minutes."""

    def http(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with server(http) as port:
        line = refused(clip, tmp_path, "--ray", f"127.0.0.1:{port}", needle=f"127.0.0.1:{port}")
    assert "not a Ray cluster" in line


def test_auto_without_a_cluster(ray_installed, clip, tmp_path: Path) -> None:
    from ray._private.services import find_gcs_addresses

    if find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine: auto would join it")
    line = refused(clip, tmp_path, "--ray", "auto", needle="--ray auto")
    assert "no running Ray cluster" in line or "nothing listens" in line


def test_ray_client_with_nothing_there(ray_installed, clip, tmp_path: Path) -> None:
    address = f"ray://127.0.0.1:{free_port()}"
    refused(clip, tmp_path, "--ray", address, needle=f"--ray {address}")


@pytest.mark.parametrize("address", ["garbage", "unreachable"])
def test_bad_ray_address_variable(
    ray_installed, clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    value = "garbage" if address == "garbage" else f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("RAY_ADDRESS", value)
    line = refused(clip, tmp_path, "--workers", "1", needle="RAY_ADDRESS=")
    assert value in line


def test_timeout_must_be_positive(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    before = snapshot(tmp_path)
    result = vidx(
        "upscale", src, "-o", tmp_path / "out.mp4", "--workers", "1", "--ray-timeout", "0"
    )
    assert_user_error(result, "--ray-timeout")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--ray", "127.0.0.1:6379"], "--ray"), (["--workers", "2"], "--workers")],
)
def test_missing_ray_names_the_flag_given(
    clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], flag: str
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray: ImportError, as without the extra
    src = clip("in.mp4", frames=12)
    before = snapshot(tmp_path)
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4", "--segment-frames", "4", *args)
    line = assert_user_error(result, "needs Ray, which is not installed")
    assert line.startswith(f"vidx: error: {flag} needs Ray"), line
    assert snapshot(tmp_path) == before
