"""vidx: restyle and upscale video frame by frame, steady over time."""

from __future__ import annotations

__version__ = "0.1.0"
