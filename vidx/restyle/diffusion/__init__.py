"""Stable Diffusion img2img restyle with temporal reuse, and the diffusion detail refine.

Public API: ``DiffusionRestyler`` (the Restyler; it takes ``vidx.options.RestyleOptions``),
``DiffusionRefiner`` and ``RefineUpscaler`` (tiled refine after an upscaler), ``load_pipeline``
(folder, single file or hub id), ``work_size_for`` (the working resolution).
"""

from __future__ import annotations

from vidx.options import SCHEDULERS
from vidx.restyle.diffusion.img2img import DiffusionRestyler, work_size_for
from vidx.restyle.diffusion.loading import load_pipeline, set_scheduler
from vidx.restyle.diffusion.refine import DiffusionRefiner, RefineUpscaler

__all__ = [
    "SCHEDULERS",
    "DiffusionRefiner",
    "DiffusionRestyler",
    "RefineUpscaler",
    "load_pipeline",
    "set_scheduler",
    "work_size_for",
]
