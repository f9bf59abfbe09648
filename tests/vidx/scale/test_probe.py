"""vidx.scale.probe against tiny local servers: a GCS-like gRPC server is taken, a gRPC server
without Ray's method, an HTTP/1 server, a silent port and a closed one are not. No Ray needed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from vidx.scale.address import parse_address
from vidx.scale.probe import DATA, END_HEADERS, END_STREAM, GREETING, HEADERS, SETTINGS, probe


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


@contextmanager
def server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """One connection on a free local port, handed to ``answer`` once the client spoke."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(len(GREETING))
            answer(conn)
            try:
                while conn.recv(1024):  # until the client hangs up
                    pass
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(5)
        listener.close()


def gcs(conn: socket.socket) -> None:
    """SETTINGS, then a reply to stream 1: headers (``:status 200``), a message, trailers."""
    conn.sendall(
        frame(SETTINGS, 0, 0)
        + frame(HEADERS, END_HEADERS, 1, b"\x88")
        + frame(DATA, 0, 1, b"\x00\x00\x00\x00\x02\x08\x01")
        + frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x00")
    )


def grpc_without_the_method(conn: socket.socket) -> None:
    """Trailers only: how a gRPC server answers a method it does not have."""
    conn.sendall(frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x88"))


def http1(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def proxy_404(conn: socket.socket) -> None:
    """An HTTP/2 proxy: a 404 with an HTML body."""
    conn.sendall(
        frame(SETTINGS, 0, 0)
        + frame(HEADERS, END_HEADERS, 1, b"\x8d")
        + frame(DATA, END_STREAM, 1, b"<html>not found</html>")
    )


@pytest.fixture(autouse=True)
def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_USE_TLS", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)


def test_a_gcs_answers() -> None:
    with server(gcs) as port:
        assert probe("127.0.0.1", port, 5) is None


@pytest.mark.parametrize("answer", [grpc_without_the_method, http1, proxy_404])
def test_other_servers_are_not_a_ray_cluster(answer) -> None:
    with server(answer) as port:
        why = probe("127.0.0.1", port, 5)
    assert why is not None and "not a Ray cluster" in why


def test_the_ray_client_needs_only_http2() -> None:
    with server(grpc_without_the_method) as port:
        assert probe("127.0.0.1", port, 5, gcs=False) is None
    with server(http1) as port:
        assert probe("127.0.0.1", port, 5, gcs=False) is not None


def test_silent_and_closed_ports() -> None:
    with server(lambda conn: None) as port:
        assert probe("127.0.0.1", port, 0.5) == "no answer within 0.5 s"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    why = probe("127.0.0.1", port, 1)
    assert why is not None and "nothing listens" in why


@pytest.mark.parametrize(
    ("text", "kind", "host", "port"),
    [
        ("auto", "auto", "", 0),
        ("head-1.example.org:6379", "gcs", "head-1.example.org", 6379),
        ("[::1]:6379", "gcs", "::1", 6379),
        ("ray://10.0.0.5", "client", "10.0.0.5", 10001),
        ("ray://head:10002", "client", "head", 10002),
    ],
)
def test_addresses(text: str, kind: str, host: str, port: int) -> None:
    a = parse_address(text)
    assert (a.kind, a.host, a.port) == (kind, host, port)
