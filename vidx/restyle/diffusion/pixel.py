"""Pixel-space continuity: the previous output warped in pixel space, as the x̂0 fusion's
reference made in pixels (``--pixel-fusion``) and as the colour reference that follows the
source.

Per DESIGN.md "Temporal consistency" 2 and 6 (Rerender-A-Video's pixel-aware fusion):

- ``PixelMemory`` keeps the previous output and source at the working size, and the anchor
  (last keyframe) output with the flow composed since it; ``warped`` brings them into the
  current frame along ``ctx.flow`` with the cleaned reliability mask. ``anchor_view`` is the
  anchor output warped *once* along the composed flow (the previous output warped once where
  the anchor is not seen): re-warping the previous output every frame is a bilinear blur that
  adds up.
- ``PixelTarget``: on the first fused step the predicted x̂0 is decoded, the warped previous
  output replaces it inside the mask, and the composite is encoded again (``fidelity``: the
  encoder's loss is compensated, ``E(x) + (E(x) - E(D(E(x))))``); the result is blended into the
  latent reference, so reuse copies the previous *pixels* rather than a bilinearly warped
  latent.
- ``follow_color``: the output takes the masked statistics of the warped previous output,
  changed as the source changed between the two frames (``temporal.follow_color``), instead of
  a global AdaIN to the keyframe that cancels fades.

Convention: images ``(H, W, 3)`` uint8 at the working size; flows from the current frame to the
previous one in working pixels; masks ``(H, W)`` bool, True = reliable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import temporal
from temporal.warp import inside_frame, sample_coords
from vidx.frame import FrameContext
from vidx.restyle.diffusion.denoise import decode_latent, encode_image
from vidx.restyle.diffusion.reuse_mask import remove_specks


def pixel_flow_mask(
    ctx: FrameContext, size: tuple[int, int], open_cells: float = 0.0, cell: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """``ctx.flow`` and its mask at working ``size = (h, w)``: flow ``(h, w, 2)`` in working
    pixels, mask ``(h, w)`` bool with specks thinner than ``open_cells`` latent cells (of
    ``cell`` working pixels) removed."""
    if ctx.flow is None:
        raise ValueError("pixel_flow_mask needs a context with a flow")
    flow = temporal.resize_flow(ctx.flow.astype(np.float32, copy=False), size)
    if ctx.mask is None:
        return flow, np.ones(size, dtype=bool)
    m = ctx.mask.astype(bool, copy=False)
    m = remove_specks(m, open_cells * cell * m.shape[0] / size[0])
    return flow, np.ascontiguousarray(temporal.resize_mask(m, size, threshold=0.999))


@dataclass
class Warped:
    """The previous output and source warped into the current frame, where to trust them, the
    anchor's output warped in where it still sees the frame (``anchor_view``, the pixel-space
    x̂0 fusion's picture, and ``anchor_mask``) and the previous output's own per-channel std."""

    output: np.ndarray
    source: np.ndarray
    mask: np.ndarray
    anchor_view: np.ndarray
    anchor_mask: np.ndarray
    output_std: np.ndarray


class PixelMemory:
    """The previous frame's output and source, and the anchor, at the working size."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.output: np.ndarray | None = None
        self.source: np.ndarray | None = None
        self.anchor: np.ndarray | None = None
        self.flow: np.ndarray | None = None  # current frame -> anchor
        self.valid: np.ndarray | None = None

    def keep(self, output: np.ndarray, source: np.ndarray, keyframe: bool) -> None:
        """Remember this frame; a keyframe becomes the anchor."""
        self.output, self.source = output, source
        if keyframe or self.anchor is None or self.anchor.shape != output.shape:
            self.anchor = output
            self.flow = np.zeros((*output.shape[:2], 2), np.float32)
            self.valid = np.ones(output.shape[:2], bool)

    def warped(self, ctx: FrameContext, open_cells: float, cell: int) -> Warped | None:
        """The memory warped along ``ctx.flow`` (advancing the anchor's composed flow); None
        without a flow or a fitting memory."""
        if ctx.flow is None or self.output is None or self.source is None:
            return None
        size = self.output.shape[:2]
        flow, mask = pixel_flow_mask(ctx, size, open_cells, cell)
        out = temporal.warp(self.output, flow)
        src = temporal.warp(self.source, flow)
        anchor_view, anchor_mask = out, mask
        self._advance(flow, mask)
        if self.anchor is not None and self.flow is not None and self.valid is not None:
            from_anchor = temporal.warp(self.anchor, self.flow)
            anchor_view = np.where(self.valid[:, :, None], from_anchor, out)
            anchor_mask = self.valid | mask
        std = self.output.reshape(-1, self.output.shape[2]).astype(np.float32).std(axis=0)
        return Warped(out, src, mask, anchor_view, anchor_mask, std)

    def follow(self, ctx: FrameContext, open_cells: float, cell: int) -> None:
        """A frame not rendered: only the anchor's composed flow advances along ``ctx.flow``
        (what ``warped`` does, without warping the pictures)."""
        if ctx.flow is not None and self.output is not None:
            flow, mask = pixel_flow_mask(ctx, self.output.shape[:2], open_cells, cell)
            self._advance(flow, mask)

    def _advance(self, flow: np.ndarray, mask: np.ndarray) -> None:
        """Compose ``flow`` onto the anchor's flow and update where the anchor is still seen."""
        if self.anchor is None or self.flow is None or self.valid is None:
            return
        self.flow = flow + temporal.warp(self.flow, flow)
        seen = temporal.warp(self.valid.astype(np.float32), flow) > 0.999
        self.valid = seen & inside_frame(*sample_coords(self.flow)) & mask


@torch.no_grad()
def encode_reference(pipe, image: np.ndarray, fidelity: bool) -> torch.Tensor:
    """Encode ``image``; with ``fidelity`` compensate the autoencoder's loss once
    (Rerender-A-Video's fidelity-oriented encoding): ``z + (z - E(D(z)))``."""
    z = encode_image(pipe, image)
    if not fidelity:
        return z
    again = encode_image(pipe, decode_latent(pipe, z))
    return z + (z - again)


class PixelTarget:
    """Turns the first fused step's x̂0 into the pixel-aware reference (see module doc)."""

    def __init__(
        self,
        pipe,
        warped: Warped,
        reference: torch.Tensor,
        weight: float,
        fidelity: bool,
    ) -> None:
        self.pipe, self.warped, self.reference = pipe, warped, reference
        self.weight, self.fidelity = weight, fidelity
        self.encoded: torch.Tensor | None = None

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        fresh = decode_latent(self.pipe, x0.to(self.reference.dtype))
        if fresh.shape != self.warped.output.shape:
            return self.reference
        keep = self.warped.anchor_mask[:, :, None]
        composite = np.where(keep, self.warped.anchor_view, fresh)
        self.encoded = encode_reference(self.pipe, composite, self.fidelity)
        encoded = self.encoded.to(self.reference.dtype)
        return self.reference + self.weight * (encoded - self.reference)


def follow_color(out: np.ndarray, warped: Warped, source: np.ndarray, weight: float) -> np.ndarray:
    """``out`` colour-matched to the warped previous output, following the source's change."""
    if warped.output.shape != out.shape or source.shape != out.shape:
        return out
    matched = temporal.follow_color(
        out, warped.output, source, warped.source, warped.mask, previous_std=warped.output_std
    )
    if weight >= 1.0:
        return matched
    return temporal.fuse(out, matched, np.ones(out.shape[:2], dtype=bool), weight)
