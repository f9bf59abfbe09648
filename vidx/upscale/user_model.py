"""Learned upscaling with any spandrel model: the shared upscaler and loading a user's file.

``SpandrelUpscaler`` wraps a loaded spandrel ``ImageModelDescriptor``: it decides whether the
model runs at all, runs it tiled, and finishes with a high-quality resize to the exact target
size. ``ModelFileUpscaler`` loads the descriptor from a ``.safetensors`` file (or, only when the
user allows it, a pickle checkpoint through ``torch.load(weights_only=True)``), read by
:mod:`vidx.weights`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

from vidx.device import pick_device, pick_dtype
from vidx.errors import InputError, ModelError, OptionError
from vidx.frame import FrameContext
from vidx.upscale.tiling import (
    compiled_call,
    default_overlap,
    memory_format,
    pick_batch,
    pick_tile,
    resize,
    run_resized,
    run_tiled,
)
from vidx.weights import first_line, load_state_dict

DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def choose_factor(
    in_size: tuple[int, int], size: tuple[int, int], factors: list[int]
) -> int | None:
    """Model factor to run for ``in_size -> size`` (both ``(width, height)``), or None.

    None when no axis grows (a model would only be downscaled away); otherwise the smallest
    available factor that reaches the larger of the two axis ratios, or the largest factor when
    none does (the rest is a resize).
    """
    needed = max(size[0] / in_size[0], size[1] / in_size[1])
    if needed <= 1:
        return None
    for factor in sorted(factors):
        if factor >= needed - 1e-9:
            return factor
    return max(factors)


def _check_call(image: np.ndarray, size: tuple[int, int]) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"upscaler input must be (H, W, 3) uint8 or uint16, got {image.shape} {image.dtype}"
        )
    if len(size) != 2 or min(size) < 1:
        raise OptionError(f"upscale target size must be two positive integers, got {size!r}")


def check_tiling(tile: int | None, overlap: int | None) -> None:
    """OptionError for a negative ``--tile`` or overlap (None = automatic, 0 = no tiling)."""
    if tile is not None and tile < 0:
        raise OptionError(f"must be 0 (off) or a positive pixel count, got {tile}", param="tile")
    if overlap is not None and overlap < 0:
        raise OptionError(f"tile overlap must be >= 0, got {overlap}")


class SpandrelUpscaler:
    """Upscaler around a spandrel descriptor already on its device and dtype.

    ``variants`` maps the scale factors offered to the model file shown for each (all run the
    same network at ``descriptor.scale``; a smaller variant only changes the final resize).
    ``tile`` is the core tile side in input pixels; 0 disables tiling. ``overlap`` is the context
    per tile side (None = the architecture's default, see ``tiling.default_overlap``).
    """

    def __init__(
        self,
        name: str,
        descriptor: ImageModelDescriptor,
        *,
        tile: int,
        overlap: int | None = None,
        variants: dict[int, str] | None = None,
        batch: int | None = None,
        compile: bool = False,
        on_device: bool | None = None,
    ) -> None:
        self.name = name
        self.descriptor = descriptor
        self.tile = tile
        self.overlap = default_overlap(descriptor) if overlap is None else overlap
        self.variants = variants or {descriptor.scale: name}
        self.batch = pick_batch(descriptor, tile, self.overlap) if batch is None else batch
        self.call = compiled_call(descriptor) if compile else None
        # a frame that fits one tile stays on the model's device through the final shrink
        # (default on CUDA; on the CPU the host's OpenCV is faster, tests force it)
        self.on_device = descriptor.device.type == "cuda" if on_device is None else on_device
        self.calls = 0  # network calls so far: one per tile or batch of tiles

    def network(self, batch: torch.Tensor) -> torch.Tensor:
        """One call of the network (compiled when asked), counted in ``calls``."""
        self.calls += 1
        return (self.call or self.descriptor)(batch)

    def plan(self, in_size: tuple[int, int], size: tuple[int, int]) -> int | None:
        """The variant factor used for ``in_size -> size`` (``(width, height)``), None = no model.

        Restoration (scale 1) models always run: the user asked for them by name.
        """
        if self.descriptor.scale == 1:
            return 1
        return choose_factor(in_size, size, list(self.variants))

    def __call__(
        self, image: np.ndarray, size: tuple[int, int], ctx: FrameContext | None = None
    ) -> np.ndarray:
        """Resize ``image`` ``(H, W, 3)`` uint8 or uint16 (a 16-bit source: the model runs in
        float from it and the result stays 16-bit) to ``size = (w, h)``; returns ``(h, w, 3)``."""
        _check_call(image, size)
        height, width = image.shape[:2]
        if self.plan((width, height), size) is None:
            return resize(image, size)
        whole = self.tile <= 0 or (height <= self.tile and width <= self.tile)
        if whole and self.on_device:
            return run_resized(self.descriptor, image, size, self.network)
        image = run_tiled(self.descriptor, image, self.tile, self.overlap, self.batch, self.network)
        return resize(image, size)

    def describe(self) -> dict:
        """Name, model file(s), architecture, model scale, tiling, device and dtype."""
        return {
            "name": self.name,
            "model_file": dict(sorted(self.variants.items())),
            "architecture": self.descriptor.architecture.id,
            "scale": self.descriptor.scale,
            "tile": self.tile,
            "overlap": self.overlap,
            "batch": self.batch,
            "compiled": self.call is not None,
            "device": str(self.descriptor.device),
            "dtype": DTYPE_NAMES.get(self.descriptor.dtype, str(self.descriptor.dtype)),
        }


def prepare_descriptor(
    descriptor: ImageModelDescriptor, device: str, dtype: str, source: str
) -> ImageModelDescriptor:
    """Move a descriptor to the ``--device``/``--dtype`` choice, refusing dtypes it lacks."""
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(dtype, torch_device)
    if torch_dtype == torch.float16 and not descriptor.supports_half:
        raise OptionError(f"fp16 is not supported by the model {source}; use fp32", param="dtype")
    if torch_dtype == torch.bfloat16 and not descriptor.supports_bfloat16:
        raise OptionError(f"bf16 is not supported by the model {source}; use fp32", param="dtype")
    descriptor = descriptor.to(torch_device, torch_dtype).eval()
    descriptor.model.to(memory_format=memory_format(torch_device))  # NHWC on CUDA
    return descriptor


def load_state_dict_file(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """Read an upscaler weights file through :func:`vidx.weights.load_state_dict`."""
    return load_state_dict(path, allow_pickle=allow_pickle, what="upscaler model")


def load_descriptor(path: Path, allow_pickle: bool = False) -> ImageModelDescriptor:
    """Load any spandrel-supported RGB->RGB image model from ``path`` (float32, on the CPU)."""
    state = load_state_dict_file(path, allow_pickle)
    try:
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError as exc:
        raise ModelError(f"upscaler model {path}: architecture not recognised by spandrel") from exc
    except (KeyError, RuntimeError, ValueError, AssertionError) as exc:
        raise ModelError(f"upscaler model {path} cannot be built: {first_line(exc)}") from exc
    if not isinstance(descriptor, ImageModelDescriptor):
        raise ModelError(f"upscaler model {path} is an inpainting model, not an upscaler")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise ModelError(
            f"upscaler model {path} maps {descriptor.input_channels} to "
            f"{descriptor.output_channels} channels; vidx needs RGB in and out"
        )
    return descriptor


class ModelFileUpscaler(SpandrelUpscaler):
    """``--upscaler PATH``: any spandrel-supported model file, ``.safetensors`` by default.

    Pickle checkpoints (``.pth``, ``.pt``, ``.ckpt``) need ``allow_pickle=True`` and still load
    with ``torch.load(weights_only=True)``. ``tile=None`` picks a tile size from free memory.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        allow_pickle: bool = False,
        device: str = "auto",
        dtype: str = "auto",
        tile: int | None = None,
        overlap: int | None = None,
        compile: bool = False,
    ) -> None:
        check_tiling(tile, overlap)
        self.path = Path(path)
        descriptor = load_descriptor(self.path, allow_pickle)
        descriptor = prepare_descriptor(descriptor, device, dtype, str(self.path))
        if tile is None:
            tile = pick_tile(descriptor, descriptor.device, descriptor.dtype, overlap)
        super().__init__(
            self.path.name,
            descriptor,
            tile=tile,
            overlap=overlap,
            variants={descriptor.scale: str(self.path)},
            compile=compile,
        )
