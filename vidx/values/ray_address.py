"""Ray addresses, checked without Ray: what ``--ray`` and ``RAY_ADDRESS`` may say.

An address is one of ``auto`` (the cluster ``ray start`` left on this machine), ``HOST:PORT``
(a head node's GCS, port 6379 unless told otherwise), ``ray://HOST[:PORT]`` (the Ray Client,
port 10001 by default, which needs ``ray[client]``) or ``local`` (a fresh local instance). HOST
is a DNS name, an IPv4 address or an IPv6 address in brackets. Anything else is an
:class:`OptionError` naming the option (``--ray``) or the variable (``RAY_ADDRESS=...``), before
Ray is imported: Ray's own parser answers a bad address with a ``ValueError`` deep in
``ray.init``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from vidx.errors import OptionError

ENV = "RAY_ADDRESS"
CLIENT_PORT = 10001  # the Ray Client server's default port
FORMS = "auto, HOST:PORT or ray://HOST[:PORT]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?P<host>\[[0-9A-Fa-f:.%\w]+\]|{_LABEL}(?:\.{_LABEL})*)"
GCS = re.compile(rf"{_HOST}:(?P<port>[0-9]{{1,5}})")
CLIENT = re.compile(rf"ray://{_HOST}(?::(?P<port>[0-9]{{1,5}}))?/?")


@dataclass(frozen=True)
class Address:
    """A checked Ray address: ``kind`` is auto, local, gcs or client (host and port set for
    the last two); ``named`` is how messages name it (``RAY_ADDRESS=...`` when it came from
    the environment, else the address: the option's name goes before it)."""

    text: str
    kind: str
    host: str = ""
    port: int = 0
    from_env: bool = False

    @property
    def named(self) -> str:
        return f"{ENV}={self.text}" if self.from_env else self.text

    def error(self, detail: str) -> OptionError:
        """An OptionError about this address: ``--ray ADDRESS: detail`` on the command line."""
        return OptionError(f"{self.named}: {detail}", param=None if self.from_env else "ray")


def parse_address(text: str, *, from_env: bool = False) -> Address:
    """``text`` as an :class:`Address`; an OptionError (param ``ray``, or naming
    ``RAY_ADDRESS``) when it is none of the forms Ray takes."""
    value = text.strip()
    if value in ("auto", "local"):
        return Address(value, value, from_env=from_env)
    m = CLIENT.fullmatch(value) or GCS.fullmatch(value)
    kind = "client" if value.startswith("ray://") else "gcs"
    host = m["host"] if m else ""
    port = int(m["port"]) if m and m["port"] else CLIENT_PORT
    if m and host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1].split("%")[0])
        except ValueError:
            m = None
    if m is None or not 1 <= port <= 65535:
        shown = Address(repr(text), "bad", from_env=from_env)
        raise shown.error(f"not a Ray address (use {FORMS})")
    return Address(value, kind, host.strip("[]"), port, from_env)
