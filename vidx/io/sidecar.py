"""Provenance: the ``OUTPUT.json`` sidecar beside every result (video, still or segmented job).

It records every option (under the option schema version), what the input was, the sizes, the
models, the frame count, timings, warnings and library versions, and is written atomically.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from vidx.version import __version__


def sidecar_path(output: Path) -> Path:
    """``out.mp4`` -> ``out.mp4.json`` (so ``out.mp4`` and ``out.mkv`` never share one)."""
    return output.with_name(output.name + ".json")


def temp_path(path: Path) -> Path:
    """Where a JSON file is written before it replaces ``path``."""
    return path.with_name(path.name + ".part")


def versions() -> dict[str, str]:
    import av
    import cv2
    import numpy as np

    return {
        "vidx": __version__,
        "python": platform.python_version(),
        "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "torch": metadata.version("torch"),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as ``path`` atomically (a temp file, then ``os.replace``)."""
    return write_atomic(path, json.dumps(data, indent=2, default=str).encode())


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` as ``path`` atomically: to :func:`temp_path`, then ``os.replace`` (a
    failure leaves neither a partial ``path`` nor the temp file)."""
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_sidecar(output: Path, record: dict[str, Any], params: dict[str, Any]) -> Path:
    """``OUTPUT.json`` for ``output``: ``record`` (what the job measured and made) with the
    options ``params`` and the library versions."""
    data = {"output": str(output), "params": params, **record, "versions": versions()}
    return write_json(sidecar_path(output), data)
