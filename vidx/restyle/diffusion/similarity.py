"""The stochastic similarity filter (StreamDiffusion, Kodaira et al. 2023): a frame that barely
changed reuses the last result instead of running the model.

The similarity is the cosine of the two working images in [-1, 1] (flattened), against the last
frame that was *rendered*, not the previous source frame, so a slow change adds up and is
rendered in the end. Above ``threshold`` the skip probability rises linearly from 0 to 1 at
identical frames, ``max(0, 1 - (1 - c) / (1 - threshold))``: a hard cut-off would flicker
between reuse and render on a slow change; at most ``max_skip`` frames in a row are skipped so
the output keeps following the source. The draws come from a generator seeded by the seed, so
a run is deterministic.

The same filter works on latent regions of the frames it renders: a latent cell whose pixels
barely changed since the last rendered frame (mean absolute change at most
``REGION_TOLERANCE`` levels, one cell of margin, feathered) keeps that frame's final latent, so
a still part of the picture (or a still shot rendered again because of ``max_skip``) does not
change at all instead of changing by the denoising's randomness.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SEED_SIMILARITY = 3  # offset from the seed of the skip draws (see reuse.py for the others)
REGION_TOLERANCE = 2.0  # mean absolute change (levels of 255) under which a cell is still


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two same-shape uint8 images mapped to [-1, 1]."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    x = a.astype(np.float32).ravel() / 127.5 - 1.0
    y = b.astype(np.float32).ravel() / 127.5 - 1.0
    den = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / den if den > 1e-12 else float(np.array_equal(a, b))


def skip_probability(similarity: float, threshold: float) -> float:
    """0 at or below ``threshold``, rising to 1 at identical frames (0 when the filter is off)."""
    if threshold <= 0.0 or threshold >= 1.0:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - (1.0 - similarity) / (1.0 - threshold))))


class SimilarityFilter:
    """Decides per frame whether to reuse the last rendered output."""

    def __init__(self, threshold: float, max_skip: int, seed: int) -> None:
        self.threshold = float(threshold)
        self.max_skip = int(max_skip)
        self.seed = int(seed)
        self.skipped = 0  # frames skipped in all
        self.reset()

    def reset(self) -> None:
        self._rendered: np.ndarray | None = None
        self._run = 0
        self._gen = torch.Generator(device="cpu").manual_seed(self.seed + SEED_SIMILARITY)

    @property
    def active(self) -> bool:
        return 0.0 < self.threshold < 1.0 and self.max_skip > 0

    def skip(self, work: np.ndarray, scene_cut: bool = False) -> bool:
        """Whether the frame whose working image is ``work`` may reuse the last output."""
        if not self.active or self._rendered is None or scene_cut or self._run >= self.max_skip:
            return False
        if self._rendered.shape != work.shape:
            return False
        p = skip_probability(cosine_similarity(self._rendered, work), self.threshold)
        draw = float(torch.rand((), generator=self._gen))
        if draw >= p:
            return False
        self._run += 1
        self.skipped += 1
        return True

    def rendered(self, work: np.ndarray) -> np.ndarray | None:
        """Note that ``work`` is rendered (the reference for the next frames); returns the
        previous reference (None at the start or when the filter is off)."""
        prior = self._rendered if self.active else None
        self._rendered = work
        self._run = 0
        return prior


def still_cells(prior: np.ndarray, work: np.ndarray, cell: int, like: torch.Tensor) -> torch.Tensor:
    """``(1, 1, h, w)`` weight in [0, 1] of the latent cells (``cell`` pixels wide) whose pixels
    barely changed from ``prior`` to ``work`` (both ``(H, W, 3)`` uint8, ``H = h * cell``):
    1 inside still areas, 0 on changed cells and the cell around them, a one-cell ramp between.
    """
    if prior.shape != work.shape or prior.ndim != 3:
        raise ValueError(f"images differ in shape: {prior.shape} vs {work.shape}")
    diff = np.abs(work.astype(np.float32) - prior.astype(np.float32)).max(axis=2)
    d = torch.from_numpy(diff)[None, None].to(like.device)
    changed = (F.avg_pool2d(d, cell) > REGION_TOLERANCE).float()
    changed = F.max_pool2d(changed, 3, stride=1, padding=1)  # a margin: the UNet sees context
    keep = F.avg_pool2d(F.pad(1.0 - changed, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    keep = torch.where(changed > 0, torch.zeros_like(keep), keep)
    return keep.to(like.dtype)
