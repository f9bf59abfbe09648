"""Stable Diffusion img2img restyle with temporal reuse, and the diffusion detail refine.

Public API: ``DiffusionOptions`` (every knob), ``DiffusionRestyler`` (the Restyler),
``DiffusionRefiner`` and ``RefineUpscaler`` (tiled refine after an upscaler), ``load_pipeline``
(folder, single file or hub id), ``work_size_for`` (the working resolution).
"""

from __future__ import annotations

from vidx.restyle.diffusion.img2img import DiffusionRestyler
from vidx.restyle.diffusion.loading import load_pipeline, set_scheduler
from vidx.restyle.diffusion.options import SCHEDULERS, DiffusionOptions, work_size_for
from vidx.restyle.diffusion.refine import DiffusionRefiner, RefineUpscaler

__all__ = [
    "SCHEDULERS",
    "DiffusionOptions",
    "DiffusionRefiner",
    "DiffusionRestyler",
    "RefineUpscaler",
    "load_pipeline",
    "set_scheduler",
    "work_size_for",
]
