"""Argument checks shared by the temporal modules (ValueErrors that name the argument)."""

from __future__ import annotations

import numpy as np

from temporal.errors import TemporalError


def check_flow_array(flow: object, name: str = "flow") -> np.ndarray:
    """Return ``flow`` as a ``(H, W, 2)`` float32 array or raise naming ``name``."""
    if not isinstance(flow, np.ndarray):
        raise TemporalError(f"{name} must be a numpy array of shape (H, W, 2), got {type(flow)}")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise TemporalError(f"{name} must have shape (H, W, 2), got {flow.shape}")
    return flow.astype(np.float32, copy=False)


def check_image(image: object, name: str) -> np.ndarray:
    """Return a ``(H, W)`` or ``(H, W, C)`` array or raise naming ``name``."""
    if not isinstance(image, np.ndarray):
        raise TemporalError(f"{name} must be a numpy array, got {type(image)}")
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise TemporalError(f"{name} must have shape (H, W) or (H, W, C), got {image.shape}")
    return image


def check_size(size: object, name: str = "size") -> tuple[int, int]:
    """Return ``(height, width)`` as positive ints or raise naming ``name``."""
    try:
        h, w = (int(v) for v in size)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise TemporalError(f"{name} must be (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise TemporalError(f"{name} must be positive (height, width), got {size!r}")
    return h, w


def check_unit(value: object, name: str) -> float:
    """Return ``value`` as a float in [0, 1] or raise naming ``name``."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TemporalError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise TemporalError(f"{name} must be in [0, 1], got {value!r}")
    return v
