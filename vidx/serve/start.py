"""Start ``vidx serve``: check the server's flags, set Gradio's environment before Gradio is
imported, then hand over to :func:`vidx.serve.app.launch`."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MAX_UPLOAD_MB = 2000


def default_state() -> Path:
    """``$XDG_CACHE_HOME/vidx/serve`` (``~/.cache/vidx/serve``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "vidx" / "serve"


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``"USER:PASS"`` -> ``(user, pass)``; None for no text (OptionError when malformed)."""
    from vidx.errors import OptionError

    if not text:
        return None
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise OptionError("must be USER:PASS (both non-empty)", param="auth")
    return user, password


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    root: Path | None = None,
    auth: str | None = None,
    state: Path | None = None,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int | None = None,
) -> None:
    """Start the web UI and block until it is stopped; unfinished jobs are resumed next time.

    ``auth`` (or the environment variable ``VIDX_AUTH``) is ``USER:PASS``; ``root`` the folder
    whose clips may be picked by path; ``state`` the folder for the queue and the results;
    ``max_pixels`` the most pixels of any picture or frame a job reads or makes (default the
    library's, ``vidx.io.inputs.MAX_PIXELS``): a job file may only lower it.
    """
    from vidx.errors import OptionError
    from vidx.io.inputs import MAX_PIXELS, check_limit

    login = parse_auth(auth or os.environ.get("VIDX_AUTH"))
    if root is not None and not Path(root).is_dir():
        raise OptionError(f"{root} is not a folder", param="root")
    if not 1 <= max_upload_mb <= 1_000_000:
        raise OptionError(f"must be 1 to 1000000 MB, got {max_upload_mb}", param="max_upload")
    if not 0 <= port <= 65535:
        raise OptionError(f"must be 0 to 65535, got {port}", param="port")
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    check_limit(limit)
    folder = Path(state or default_state()).resolve()
    (folder / "gradio").mkdir(parents=True, exist_ok=True)
    # before gradio is imported: no analytics, uploads inside the state folder, no hub downloads
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "gradio")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from vidx.serve.app import launch

    launch(
        host,
        port,
        root=root,
        login=login,
        state=folder,
        max_upload_mb=max_upload_mb,
        max_pixels=limit,
    )
