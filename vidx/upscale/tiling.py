"""Tiled inference of a spandrel image model with bounded memory and no seams.

The image is split into a grid of near-equal *core* tiles. Each core runs with ``overlap``
input pixels of real context on every side (clipped at the image border); its output is kept
``overlap // 2`` pixels past the core and cross-faded linearly with its neighbours there, the
weights of neighbouring tiles summing to exactly one. When the context covers the network's
receptive field the result equals untiled inference (animevideov3 at 24 px); Real-ESRGAN
x4plus sees further than any affordable overlap, so it gets 48 px and the cross-fade keeps its
small tile-to-tile differences (a few uint8 levels at most) from showing as a seam. Only one
row of tiles is accumulated in float32; finished rows are written to the uint8 output, so an
8K frame costs 100 MB of output, one band and one tile's activations.

Convention: images are ``(H, W, 3)`` uint8 RGB, or uint16 (16-bit sources: the model runs in
float from the 16-bit values and the output stays 16-bit); models take ``(1, 3, h, w)`` in
[0, 1].
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
import torch
from spandrel import ImageModelDescriptor, ModelTiling

#: float activations per *input* pixel that stay alive at once, per architecture id; used to
#: size tiles. ESRGAN keeps ~3 tensors of 64 channels at 4x4 output pixels per input pixel.
ACTIVATIONS_PER_PIXEL = {"ESRGAN": 64 * 16 * 3, "Compact": 64 * 4 + 48 * 3}
UNKNOWN_ARCH_ACTIVATIONS = 64 * 16 * 3 * 4
CPU_TILE_RANGE = (128, 512)
GPU_TILE_RANGE = (128, 2048)
CPU_BUDGET_BYTES = 1_500_000_000
#: context pixels per tile side. animevideov3 (18 convolutions) is exact at 24; x4plus sees
#: much further: at 48 its tiles differ from untiled inference by at most 4 uint8 levels (0.1
#: on average; 16 and 32 gave maxima of 36 and 18), measured on a 128x96 photo with 64 px tiles.
OVERLAP_BY_ARCH = {"ESRGAN": 48, "Compact": 24}
DEFAULT_OVERLAP = 32


def default_overlap(descriptor: ImageModelDescriptor) -> int:
    """Tile context in input pixels for ``descriptor``'s architecture (32 when unknown)."""
    return OVERLAP_BY_ARCH.get(descriptor.architecture.id, DEFAULT_OVERLAP)


def available_memory(device: torch.device) -> int:
    """Free bytes on ``device``: CUDA free memory, or the host's MemAvailable on the CPU."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def pick_tile(
    descriptor: ImageModelDescriptor,
    device: torch.device,
    dtype: torch.dtype,
    overlap: int | None = None,
) -> int:
    """Core tile side in input pixels so one padded tile's activations fit in memory.

    GPU: 60% of free memory; CPU: a quarter of available RAM, at most 1.5 GB, and tiles of
    128-512 px (larger CPU tiles gain nothing). Returns 0 (= never tile) for models that tile
    internally. Rounded down to a multiple of 32.
    """
    if descriptor.tiling == ModelTiling.INTERNAL:
        return 0
    if overlap is None:
        overlap = default_overlap(descriptor)
    arch = descriptor.architecture.id
    per_pixel = ACTIVATIONS_PER_PIXEL.get(arch, UNKNOWN_ARCH_ACTIVATIONS)
    per_pixel *= max(1, descriptor.scale // 4) ** 2  # x8 models: more output per input pixel
    bytes_per_pixel = per_pixel * torch.tensor([], dtype=dtype).element_size()
    if device.type == "cuda":
        budget, (low, high) = 0.6 * available_memory(device), GPU_TILE_RANGE
    else:
        budget = min(0.25 * available_memory(device), CPU_BUDGET_BYTES)
        low, high = CPU_TILE_RANGE
    side = int(math.sqrt(max(budget, 0) / bytes_per_pixel)) - 2 * overlap
    return int(min(max(side // 32 * 32, low), high))


def _peak(image: np.ndarray) -> float:
    """The white level of ``image``'s dtype: 255 for uint8, 65535 for uint16."""
    return 65535.0 if image.dtype == np.uint16 else 255.0


def _to_tensor(
    image: np.ndarray, device: torch.device, dtype: torch.dtype, peak: float = 255.0
) -> torch.Tensor:
    if image.dtype == np.uint16:  # torch has no uint16 arithmetic on every device
        image = image.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return tensor.permute(2, 0, 1)[None].to(dtype).div_(peak)


def _to_float(tensor: torch.Tensor, peak: float = 255.0) -> np.ndarray:
    """``(1, 3, h, w)`` model output -> ``(h, w, 3)`` float32 in [0, peak] on the host."""
    return tensor[0].float().clamp_(0, 1).mul_(peak).permute(1, 2, 0).cpu().numpy()


def _quantise(values: np.ndarray, peak: float = 255.0) -> np.ndarray:
    kind = np.uint16 if peak > 255 else np.uint8
    return np.clip(np.rint(values), 0, peak).astype(kind)


def _to_uint8(tensor: torch.Tensor, peak: float = 255.0) -> np.ndarray:
    return _quantise(_to_float(tensor, peak), peak)


def _cuts(length: int, tile: int) -> list[int]:
    """Boundaries of ``ceil(length / tile)`` near-equal cores covering ``[0, length)``."""
    count = max(1, math.ceil(length / tile))
    return [round(i * length / count) for i in range(count + 1)]


def _ramp(lo: int, hi: int, core: tuple[int, int], blend: int, full: int, scale: int) -> np.ndarray:
    """Feather weights for output positions ``[lo*scale, hi*scale)`` of a tile whose core is
    ``core``: linear 0->1 across ``[core0 - blend, core0 + blend)`` and 1->0 across
    ``[core1 - blend, core1 + blend)`` (input pixels), flat 1 at the image border. A tile's ramp and
    its neighbour's sum to exactly 1."""
    pos = (np.arange(lo * scale, hi * scale, dtype=np.float32) + 0.5) / scale
    weight = np.ones_like(pos)
    if blend > 0 and core[0] > 0:
        weight *= np.clip((pos - (core[0] - blend)) / (2 * blend), 0.0, 1.0)
    if blend > 0 and core[1] < full:
        weight *= np.clip(((core[1] + blend) - pos) / (2 * blend), 0.0, 1.0)
    return weight


@torch.inference_mode()
def run_tiled(
    descriptor: ImageModelDescriptor,
    image: np.ndarray,
    tile: int,
    overlap: int | None = None,
) -> np.ndarray:
    """Run ``descriptor`` on ``image`` ``(H, W, 3)`` uint8 (or uint16) tile by tile; returns
    ``(sH, sW, 3)`` of the same dtype.

    ``tile`` is the core side in input pixels (0 = whole image at once). Each core runs with
    ``overlap`` (None = ``default_overlap``) input pixels of context per side; outputs are kept
    ``overlap // 2`` pixels past the core and cross-faded linearly with the neighbours there
    (weights summing to one), so no seam shows even where the receptive field exceeds the
    overlap. Float accumulation only spans one row of tiles; finished rows go straight into the
    uint8 output.
    The model runs in its own device and dtype; outputs are clamped to [0, 1].
    """
    device, dtype, scale = descriptor.device, descriptor.dtype, descriptor.scale
    height, width = image.shape[:2]
    if overlap is None:
        overlap = default_overlap(descriptor)
    peak = _peak(image)
    if tile <= 0 or (height <= tile and width <= tile):
        return _to_uint8(descriptor(_to_tensor(image, device, dtype, peak)), peak)
    ys, xs = _cuts(height, tile), _cuts(width, tile)
    smallest = min(np.diff(ys).min(), np.diff(xs).min())
    blend = int(min(overlap // 2, smallest // 2))
    out = np.empty((height * scale, width * scale, 3), dtype=image.dtype)
    carry: np.ndarray | None = None  # accumulated rows shared with the previous tile row
    for y0, y1 in zip(ys[:-1], ys[1:], strict=True):
        top, bottom = max(0, y0 - blend), min(height, y1 + blend)
        band = np.zeros(((bottom - top) * scale, width * scale, 3), dtype=np.float32)
        if carry is not None:
            band[: carry.shape[0]] += carry
        wy = _ramp(top, bottom, (y0, y1), blend, height, scale)[:, None, None]
        for x0, x1 in zip(xs[:-1], xs[1:], strict=True):
            left, right = max(0, x0 - blend), min(width, x1 + blend)
            ctx_top, ctx_left = max(0, y0 - overlap), max(0, x0 - overlap)
            patch = image[ctx_top : min(height, y1 + overlap), ctx_left : min(width, x1 + overlap)]
            result = _to_float(descriptor(_to_tensor(patch, device, dtype, peak)), peak)
            oy, ox = (top - ctx_top) * scale, (left - ctx_left) * scale
            kept = result[oy : oy + (bottom - top) * scale, ox : ox + (right - left) * scale]
            wx = _ramp(left, right, (x0, x1), blend, width, scale)[None, :, None]
            band[:, left * scale : right * scale] += kept * (wy * wx)
        done = (y1 - blend if y1 < height else bottom) - top
        out[top * scale : (top + done) * scale] = _quantise(band[: done * scale], peak)
        carry = band[done * scale :]
    return out


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """High-quality resize of ``(H, W, 3)`` uint8 or uint16 to ``size = (width, height)``.

    Area averaging when shrinking (no aliasing), Lanczos when growing; a no-op at equal size.
    """
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width <= image.shape[1] and height <= image.shape[0]
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(image, (width, height), interpolation=method)
