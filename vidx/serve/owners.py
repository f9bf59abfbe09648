"""Who a web job belongs to: the logged-in user with ``--auth``, otherwise the browser.

Convention: an owner is ``"user:NAME"`` (Gradio's ``request.username``, which its login checked)
or ``"browser:TOKEN"``, TOKEN a random 128-bit hex string the server gives a browser on its
first visit and the browser keeps in its local storage, beside the ids of its jobs. Every job
action (view, progress, results, cancel, resume) looks a job up by id *and* owner, so an id sent
from anywhere else is no such job. A reload and a server restart keep both the login and the
browser's storage; without a login, another browser, a private window or cleared site data is
a new owner that cannot find the old jobs (they still run; a login shares them between
browsers).

Gradio's per-page ``session_hash`` is not used: it changes on every reload.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

TOKEN = re.compile(r"[0-9a-f]{32}")
KEY = "owner"  # where the browser's storage keeps its token


def new_token() -> str:
    return secrets.token_hex(16)


def with_token(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The browser's stored values with a well-formed token (a new one when it has none or a
    malformed one; a token the server did not make is as good as a new one)."""
    out = dict(stored or {})
    if not isinstance(out.get(KEY), str) or not TOKEN.fullmatch(out[KEY]):
        out[KEY] = new_token()
    return out


def owner_of(username: str | None, stored: dict[str, Any] | None) -> str:
    """``"user:NAME"`` with a login, ``"browser:TOKEN"`` without; ``""`` (owns nothing) when
    the browser has no well-formed token yet."""
    if username:
        return f"user:{username}"
    token = (stored or {}).get(KEY)
    if isinstance(token, str) and TOKEN.fullmatch(token):
        return f"browser:{token}"
    return ""
