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
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import torch
from spandrel import ImageModelDescriptor, ModelTiling

ModelCall = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, h, w) in [0, 1] -> (N, 3, sh, sw)
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


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CUDA (cuDNN's fast NHWC convolutions, in fp16/bf16 above all), the
    default layout on the CPU."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def _to_tensor(
    image: np.ndarray | list[np.ndarray],
    device: torch.device,
    dtype: torch.dtype,
    peak: float = 255.0,
) -> torch.Tensor:
    """One ``(H, W, 3)`` image, or a list of equal-shaped ones, -> ``(N, 3, H, W)`` in [0, 1]."""
    images = image if isinstance(image, list) else [image]
    batch = np.stack(images) if len(images) > 1 else np.ascontiguousarray(images[0])[None]
    if batch.dtype == np.uint16:  # torch has no uint16 arithmetic on every device
        batch = batch.astype(np.float32)
    tensor = torch.from_numpy(batch).to(device, non_blocking=True)
    tensor = tensor.permute(0, 3, 1, 2).to(dtype).div_(peak)
    return tensor.contiguous(memory_format=memory_format(device))


def _to_floats(tensor: torch.Tensor, peak: float = 255.0) -> np.ndarray:
    """``(N, 3, h, w)`` model output -> ``(N, h, w, 3)`` float32 in [0, peak] on the host."""
    return tensor.float().clamp_(0, 1).mul_(peak).permute(0, 2, 3, 1).cpu().numpy()


def _to_float(tensor: torch.Tensor, peak: float = 255.0) -> np.ndarray:
    """``(1, 3, h, w)`` model output -> ``(h, w, 3)`` float32 in [0, peak] on the host."""
    return _to_floats(tensor[:1], peak)[0]


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


def compiled_call(descriptor: ImageModelDescriptor) -> ModelCall | None:
    """The network under ``torch.compile`` (one graph per tile shape: a frame has a handful),
    for models that need no input padding and run as a plain forward call (Real-ESRGAN and
    the compact models do); None for others, which then run uncompiled."""
    if not descriptor.size_requirements.none:
        return None
    compiled = torch.compile(descriptor.model)

    def call(batch: torch.Tensor) -> torch.Tensor:
        return compiled(batch).clamp_(0, 1)

    return call


def pick_batch(
    descriptor: ImageModelDescriptor, tile: int, overlap: int | None = None, limit: int = 16
) -> int:
    """Tiles per model call: 1 on the CPU (a bigger batch is no faster there); on CUDA as many
    padded tiles as fit in the budget :func:`pick_tile` sizes one tile from, up to ``limit``
    (small tiles leave a GPU idle between calls)."""
    device = descriptor.device
    if device.type != "cuda" or tile <= 0:
        return 1
    if overlap is None:
        overlap = default_overlap(descriptor)
    per_pixel = ACTIVATIONS_PER_PIXEL.get(descriptor.architecture.id, UNKNOWN_ARCH_ACTIVATIONS)
    per_pixel *= max(1, descriptor.scale // 4) ** 2
    one = per_pixel * torch.tensor([], dtype=descriptor.dtype).element_size()
    one *= (tile + 2 * overlap) ** 2
    return int(min(max(1, 0.6 * available_memory(device) // one), limit))


def _row_results(
    descriptor: ImageModelDescriptor,
    call: ModelCall,
    patches: list[np.ndarray],
    batch: int,
    peak: float,
) -> Iterator[np.ndarray]:
    """Model outputs ``(sh, sw, 3)`` float32 of one row's ``patches``, in order; equal-shaped
    neighbours go through the model together, ``batch`` at a time (results equal one by one:
    the network has no batch-dependent layer)."""
    device, dtype = descriptor.device, descriptor.dtype
    i = 0
    while i < len(patches):
        group = [patches[i]]
        while (
            len(group) < batch
            and i + len(group) < len(patches)
            and patches[i + len(group)].shape == patches[i].shape
        ):
            group.append(patches[i + len(group)])
        yield from _to_floats(call(_to_tensor(group, device, dtype, peak)), peak)
        i += len(group)


@torch.inference_mode()
def run_tiled(
    descriptor: ImageModelDescriptor,
    image: np.ndarray,
    tile: int,
    overlap: int | None = None,
    batch: int = 1,
    call: ModelCall | None = None,
) -> np.ndarray:
    """Run ``descriptor`` on ``image`` ``(H, W, 3)`` uint8 (or uint16) tile by tile; returns
    ``(sH, sW, 3)`` of the same dtype.

    ``tile`` is the core side in input pixels (0 = whole image at once). Each core runs with
    ``overlap`` (None = ``default_overlap``) input pixels of context per side; outputs are kept
    ``overlap // 2`` pixels past the core and cross-faded linearly with the neighbours there
    (weights summing to one), so no seam shows even where the receptive field exceeds the
    overlap. Float accumulation only spans one row of tiles; finished rows go straight into the
    uint8 output. ``batch``: tiles of one row per model call (see :func:`pick_batch`);
    ``call``: what runs the network (default ``descriptor``; see :func:`compiled_call`).
    The model runs in its own device and dtype; outputs are clamped to [0, 1].
    """
    device, dtype, scale = descriptor.device, descriptor.dtype, descriptor.scale
    height, width = image.shape[:2]
    if overlap is None:
        overlap = default_overlap(descriptor)
    peak = _peak(image)
    call = call or descriptor
    if tile <= 0 or (height <= tile and width <= tile):
        return _to_uint8(call(_to_tensor(image, device, dtype, peak)), peak)
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
        ctx_top = max(0, y0 - overlap)
        cores = list(zip(xs[:-1], xs[1:], strict=True))
        patches = [
            image[
                ctx_top : min(height, y1 + overlap), max(0, x0 - overlap) : min(width, x1 + overlap)
            ]
            for x0, x1 in cores
        ]
        results = _row_results(descriptor, call, patches, batch, peak)
        for (x0, x1), result in zip(cores, results, strict=True):
            left, right = max(0, x0 - blend), min(width, x1 + blend)
            ctx_left = max(0, x0 - overlap)
            oy, ox = (top - ctx_top) * scale, (left - ctx_left) * scale
            kept = result[oy : oy + (bottom - top) * scale, ox : ox + (right - left) * scale]
            wx = _ramp(left, right, (x0, x1), blend, width, scale)[None, :, None]
            band[:, left * scale : right * scale] += kept * (wy * wx)
        done = (y1 - blend if y1 < height else bottom) - top
        out[top * scale : (top + done) * scale] = _quantise(band[: done * scale], peak)
        carry = band[done * scale :]
    return out


def shrinks(image_size: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether ``size`` is no larger than ``image_size`` on both axes (both ``(w, h)``)."""
    return size[0] <= image_size[0] and size[1] <= image_size[1]


def area_shrink(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """Shrink ``x`` along ``dim`` to ``length`` by exact area averaging, fractional pixels
    included (OpenCV's INTER_AREA): each output sample is the mean of the input over its
    span, read off the running sum, which is piecewise linear, so interpolating it at the
    span's ends is exact. Runs on ``x``'s device (torch's ``area`` mode only bins whole
    pixels, which differs from INTER_AREA for non-integer factors)."""
    n = x.shape[dim]
    if length == n:
        return x
    if length > n:
        raise ValueError(f"area_shrink only shrinks: {n} -> {length}")
    zero = torch.zeros_like(x.narrow(dim, 0, 1))
    running = torch.cat([zero, x.cumsum(dim)], dim)  # value at integer position i: sum of [0, i)
    edges = torch.arange(length + 1, device=x.device, dtype=torch.float64) * (n / length)
    lo = edges.floor().long().clamp_(max=n - 1)
    frac = (edges - lo).to(x.dtype)
    shape = [1] * x.ndim
    shape[dim] = length + 1
    below, above = running.index_select(dim, lo), running.index_select(dim, lo + 1)
    at_edges = below + frac.view(shape) * (above - below)
    return at_edges.diff(dim=dim) * (length / n)


@torch.inference_mode()
def run_resized(
    descriptor: ImageModelDescriptor,
    image: np.ndarray,
    size: tuple[int, int],
    call: ModelCall | None = None,
) -> np.ndarray:
    """The model on the whole of ``image`` and the shrink to ``size = (w, h)`` both on the
    model's device, then one copy of the finished frame to the host: on a GPU the model's
    larger output (8K for a 1080p frame at x4) never crosses to the CPU, and the area
    average runs there. The shrink is exact area averaging (:func:`area_shrink`, what
    :func:`resize` does on the host). A target larger than the model's output falls back to
    the host's Lanczos."""
    peak = _peak(image)
    out = (call or descriptor)(_to_tensor(image, descriptor.device, descriptor.dtype, peak))
    if not shrinks((out.shape[3], out.shape[2]), size):
        return resize(_to_uint8(out, peak), size)
    if (out.shape[3], out.shape[2]) != tuple(size):
        out = area_shrink(area_shrink(out.float(), size[1], 2), size[0], 3)
    values = out[0].float().clamp_(0, 1).mul_(peak).round_().permute(1, 2, 0)
    kind = torch.int32 if peak > 255 else torch.uint8  # torch has no uint16 on every device
    host = values.to(kind).cpu().numpy()
    return host.astype(np.uint16) if peak > 255 else host


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
