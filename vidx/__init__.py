"""vidx: restyle and upscale video frame by frame, steady over time.

The Python API (the CLI wraps exactly these)::

    import vidx

    result = vidx.render("clip.mp4", "styled.mp4", style="3", strength=0.5, size="1080p")
    sheet = vidx.jobs.preview("clip.mp4", "sheet.png", vary={"strength": [0.25, 0.5]}, style="3")
    info = vidx.probe("clip.mp4")

Options are keyword arguments named as in :mod:`vidx.options` (the CLI flags without ``--``),
or option objects (``vidx.JobOptions``, ``vidx.RestyleOptions`` ...).
"""

from __future__ import annotations

from typing import Any

from vidx.version import __version__

_API = (
    "render",
    "preview",
    "variants",
    "probe",
    "metrics",
    "style_gallery",
    "render_timeline",
    "timeline_plan",
    "timeline_variants",
)
_OPTIONS = (
    "JobOptions",
    "TrimOptions",
    "SizeOptions",
    "EncodeOptions",
    "UpscaleOptions",
    "RestyleOptions",
    "DiffusionTemporalOptions",
    "DiffusionControlOptions",
    "AnalysisOptions",
    "DeviceOptions",
    "InputOptions",
    "RunOptions",
    "TimelineOptions",
)
__all__ = ["__version__", *_API, *_OPTIONS, "Progress", "JobResult", "VidxError"]


def __getattr__(name: str) -> Any:
    # imported on first use, so `import vidx` stays cheap (no torch, no PyAV)
    if name in _API:
        from vidx import api

        return getattr(api, name)
    if name in _OPTIONS:
        from vidx import options

        return getattr(options, name)
    if name in ("Progress", "JobResult"):
        from vidx import pipeline

        return getattr(pipeline, name)
    if name == "VidxError":
        from vidx.errors import VidxError

        return VidxError
    raise AttributeError(f"module 'vidx' has no attribute {name!r}")
