"""Is a Ray cluster at HOST:PORT? A TCP connect and one gRPC call, without Ray or grpcio.

``ray.init`` given an address where no Ray cluster answers waits for minutes and prints its own
log lines while it does; a proxy or another gRPC server on the port keeps it retrying. So
before Ray is called, :func:`probe` asks the address itself, within a timeout:

- a GCS (``HOST:PORT``): HTTP/2 with the client's greeting, then the unary call Ray's own driver
  makes first, ``ray.rpc.NodeInfoGcsService/GetClusterId`` with an empty request. A GCS answers
  with a gRPC message; anything else (an HTTP/1 server, a proxy's 404, a gRPC server without
  that method, which answers with trailers only) is not a Ray cluster;
- a Ray Client server (``ray://``): that it answers the HTTP/2 greeting with SETTINGS;
- with ``RAY_USE_TLS`` or token authentication (``RAY_AUTH_MODE=token``) only the TCP connect:
  the greeting would need TLS, the call a token.

Convention: HTTP/2 frames as RFC 9113 lays them out (a 9-byte header: 24-bit length, type,
flags, 31-bit stream id); the request's headers are HPACK literals without Huffman coding
(RFC 7541 6.2.2); the gRPC message is a 5-byte prefix (compressed flag, 32-bit length) and the
encoded protobuf, empty here.
"""

from __future__ import annotations

import os
import socket
import time

GREETING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"
MAX_FRAME = 1 << 20  # larger than any frame a server sends before SETTINGS_MAX_FRAME_SIZE
MAX_MESSAGE = 64 << 20  # a gRPC length prefix beyond this is not a reply to GetClusterId


def probe(host: str, port: int, timeout: float, *, gcs: bool = True) -> str | None:
    """Why no Ray cluster answers at ``host:port`` within ``timeout`` seconds, as a phrase;
    None when one does (a GCS, or with ``gcs`` False, any HTTP/2 server)."""
    secured = os.environ.get("RAY_USE_TLS", "").lower() in ("1", "true")
    secured = secured or os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            if secured:
                return None
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            s.sendall(GREETING + _frame(SETTINGS, 0, 0, b"") + (_call(authority) if gcs else b""))
            answered = _answer(s, deadline, gcs)
    except socket.gaierror:
        return f"cannot find the host {host}"
    except ConnectionRefusedError:
        return "nothing listens there (connection refused); is the cluster up (ray start --head)?"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return f"cannot be reached ({exc.strerror or exc})"
    if not answered:
        what = "a Ray cluster's GCS (ray start --head prints its address)" if gcs else "Ray"
        return f"something answers there, but it is not {what}"
    return None


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    header = len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big")
    return header + payload


def _integer(value: int, bits: int) -> bytes:
    """An HPACK integer with a ``bits``-bit prefix (RFC 7541 5.1), the prefix's flags 0."""
    limit = (1 << bits) - 1
    if value < limit:
        return bytes([value])
    out, value = [limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes([*out, value])


def _literal(text: str) -> bytes:
    data = text.encode()
    return _integer(len(data), 7) + data


def _call(authority: str) -> bytes:
    """Stream 1: the unary call ``CALL`` with an empty request message."""
    fields = {
        ":method": "POST",
        ":scheme": "http",
        ":path": CALL,
        ":authority": authority,
        "content-type": "application/grpc",
        "te": "trailers",
    }
    block = b"".join(b"\x00" + _literal(k) + _literal(v) for k, v in fields.items())
    message = bytes(5)  # not compressed, 0 bytes long
    return _frame(HEADERS, END_HEADERS, 1, block) + _frame(DATA, END_STREAM, 1, message)


def _read(s: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        s.settimeout(left)
        chunk = s.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _answer(s: socket.socket, deadline: float, gcs: bool) -> bool:
    """Whether the server speaks HTTP/2 (its first frame is SETTINGS) and, with ``gcs``,
    answers the call on stream 1 with a gRPC message."""
    first = True
    while True:
        head = _read(s, 9, deadline)
        if len(head) < 9:
            return False  # closed
        length = int.from_bytes(head[:3], "big")
        kind, flags, stream = head[3], head[4], int.from_bytes(head[5:], "big") & 0x7FFFFFFF
        if (first and kind != SETTINGS) or length > MAX_FRAME:
            return False  # not HTTP/2 (an HTTP/1 reply reads as a huge frame of another type)
        first = False
        payload = _read(s, length, deadline)
        if kind == SETTINGS and not flags & ACK:
            if not gcs:
                return True
            s.sendall(_frame(SETTINGS, ACK, 0, b""))
        elif kind == PING and not flags & ACK:
            s.sendall(_frame(PING, ACK, 0, payload))
        elif kind == GOAWAY or (stream == 1 and kind == RST_STREAM):
            return False
        elif stream == 1 and kind == DATA and payload:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            size = int.from_bytes(payload[1:5], "big") if len(payload) >= 5 else -1
            return payload[:1] in (b"\x00", b"\x01") and 0 <= size <= MAX_MESSAGE
        elif stream == 1 and kind == HEADERS and flags & END_STREAM:
            return False  # trailers only: no such method here, or refused
