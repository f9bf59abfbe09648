"""Dense optical flow between two frames (OpenCV DIS / Farneback, torchvision RAFT).

Convention: a flow field is ``(H, W, 2)`` float32 in pixels, x displacement in channel 0 and
y in channel 1. ``flow(src, dst)[p]`` is the displacement that takes pixel ``p`` of ``src`` to
where the same point sits in ``dst``; pixel centres are at integer coordinates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import cv2
import numpy as np

from temporal._checks import check_image
from temporal.errors import TemporalError
from temporal.resize import resize_flow

if TYPE_CHECKING:
    from temporal.raft import RaftWeights

METHODS = ("dis", "farneback", "raft")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    # "fine": the "fast" preset run down to full resolution (finest scale 0): about 2x the cost
    # of "medium" with 2-4x lower end-point error (see docs/BENCHMARKS.md).
    "fine": cv2.DISOPTICAL_FLOW_PRESET_FAST,
}
DEFAULT_PRESET = "fine"


def to_gray(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``(H, W, 3)`` RGB, ``(H, W, 1)`` or ``(H, W)`` uint8 -> ``(H, W)`` uint8 luma."""
    image = check_image(image, name)
    if image.dtype != np.uint8:
        raise TemporalError(f"{name} must be uint8, got dtype {image.dtype}")
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    if image.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    raise TemporalError(f"{name} must have 1, 3 or 4 channels, got shape {image.shape}")


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def _dis(src: np.ndarray, dst: np.ndarray, preset: str) -> np.ndarray:
    dis = cv2.DISOpticalFlow.create(DIS_PRESETS[preset])
    if preset == "fine":
        dis.setFinestScale(0)
    return dis.calc(to_gray(src, "src"), to_gray(dst, "dst"), None)  # type: ignore[call-overload]


def _farneback(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    prev = to_gray(src, "src")
    init = np.zeros((*prev.shape, 2), dtype=np.float32)
    return cv2.calcOpticalFlowFarneback(
        prev,
        to_gray(dst, "dst"),
        init,
        pyr_scale=0.5,
        levels=5,
        winsize=15,
        iterations=3,
        poly_n=5,
        poly_sigma=1.2,
        flags=0,
    )


def flow(
    src: np.ndarray,
    dst: np.ndarray,
    method: str = "dis",
    *,
    preset: str = DEFAULT_PRESET,
    scale: float = 1.0,
    raft_weights: RaftWeights | None = None,
    device: str | None = None,
    raft_updates: int = 12,
) -> np.ndarray:
    """Dense optical flow from ``src`` to ``dst``.

    Args:
        src, dst: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` / ``(H, W, 1)`` grayscale), same size.
        method: ``"dis"`` (OpenCV DIS, default), ``"farneback"`` or ``"raft"`` (torchvision,
            needs ``raft_weights``).
        preset: DIS preset: OpenCV's ``"ultrafast"``, ``"fast"``, ``"medium"``, or ``"fine"``
            (default: OpenCV's fast preset with patch search and variational refinement down
            to full resolution; ~0.05-0.14 px end-point error on real photos under pan, zoom
            and rotation, about twice the time of ``"medium"``).
        scale: analysis scale in (0, 1]; below 1 the flow is computed on copies shrunk with
            ``cv2.INTER_AREA`` and resized back with its vectors rescaled.
        raft_weights: the ``raft_large``/``raft_small`` weights, one of: a path to a state dict
            file (``.safetensors``, or a torch file read with ``torch.load(weights_only=True)``;
            kept for compatibility), an already-loaded state dict ``{name: tensor}`` (the
            caller applies its own file rules; the model built from it is cached by the dict's
            identity, so pass the same dict object each call and do not change it), or a RAFT
            ``torch.nn.Module`` built once (e.g. with ``temporal.raft.build_raft``; moved to
            ``device`` in place).
        device: torch device for RAFT (default: CUDA when available, else CPU).
        raft_updates: RAFT recurrent refinement steps (default 12).

    Returns:
        ``(H, W, 2)`` float32 flow; ``p + flow[p]`` is where pixel ``p`` of ``src`` sits in
        ``dst``.

    Convention: flow in pixels of the input size, x in channel 0, pixel centres at integers.
    """
    src, dst, scale = _checked(src, dst, method, preset, scale, raft_weights, raft_updates)
    h, w = src.shape[:2]
    if method != "raft":  # classical methods work on luma: convert before shrinking (cheaper)
        src, dst = to_gray(src, "src"), to_gray(dst, "dst")
    small_h, small_w = max(8, round(h * scale)), max(8, round(w * scale))
    if scale < 1.0 and (small_h, small_w) != (h, w):
        src_s = cv2.resize(src, (small_w, small_h), interpolation=cv2.INTER_AREA)
        dst_s = cv2.resize(dst, (small_w, small_h), interpolation=cv2.INTER_AREA)
    else:
        src_s, dst_s = src, dst

    if method == "dis":
        out = _dis(src_s, dst_s, preset)
    elif method == "farneback":
        out = _farneback(src_s, dst_s)
    else:
        from temporal.raft import raft_flow

        out = raft_flow(
            _to_rgb(src_s),
            _to_rgb(dst_s),
            cast("RaftWeights", raft_weights),  # not None: checked above
            device=device,
            updates=int(raft_updates),
        )

    if out.shape[:2] != (h, w):
        out = resize_flow(out, (h, w))
    return np.ascontiguousarray(out, dtype=np.float32)


def _checked(
    src: np.ndarray,
    dst: np.ndarray,
    method: str,
    preset: str,
    scale: float,
    raft_weights: RaftWeights | None,
    raft_updates: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`flow`'s arguments checked (TemporalError naming the first bad one): the images
    as :func:`check_image` gives them back, and ``scale`` as a float."""
    src = check_image(src, "src")
    dst = check_image(dst, "dst")
    if src.shape[:2] != dst.shape[:2]:
        raise TemporalError(f"src and dst must have the same size, got {src.shape} and {dst.shape}")
    if method not in METHODS:
        raise TemporalError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if preset not in DIS_PRESETS:
        raise TemporalError(f"preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise TemporalError(f"scale must be a number in (0, 1], got {scale!r}") from None
    if not 0.0 < scale <= 1.0:
        raise TemporalError(f"scale must be in (0, 1], got {scale!r}")
    if int(raft_updates) != raft_updates or raft_updates < 1:
        raise TemporalError(f"raft_updates must be a positive integer, got {raft_updates!r}")
    if method == "raft" and raft_weights is None:
        raise TemporalError(
            "raft_weights is required for method 'raft': give the path of a torchvision "
            "raft_large or raft_small state dict (.safetensors or .pt); nothing is downloaded"
        )
    for name, im in (("src", src), ("dst", dst)):
        if im.dtype != np.uint8:
            raise TemporalError(f"{name} must be uint8, got dtype {im.dtype}")
    return src, dst, scale
