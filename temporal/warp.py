"""Backward warping of images, latents and flow fields along a flow field.

Convention: ``warp(image, flow)[p] = image[p + flow[p]]`` (bilinear, border replicate), pixel
centres at integer coordinates. The torch path uses ``grid_sample(align_corners=True)`` with the
grid ``2 * x / (W - 1) - 1``, which puts pixel centres exactly where the numpy (cv2.remap) path
puts them, so both agree.
"""

from __future__ import annotations

from typing import TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from temporal._checks import check_flow_array, check_image
from temporal.errors import TemporalError

ImageT = TypeVar("ImageT", np.ndarray, torch.Tensor)


def sample_coords(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling coordinates ``(x + u, y + v)`` for a ``(H, W, 2)`` flow."""
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[:, :, 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[:, :, 1]
    return xs, ys


def inside_frame(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the sampling coordinates (``sample_coords``) fall inside the frame."""
    h, w = xs.shape
    return (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)


def _warp_numpy(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    image = check_image(image, "image")
    flow = check_flow_array(flow)
    if image.shape[:2] != flow.shape[:2]:
        raise TemporalError(
            f"image and flow must have the same size, got {image.shape[:2]} and {flow.shape[:2]}"
        )
    map_x, map_y = sample_coords(flow)
    dtype = image.dtype
    src = image
    if dtype == np.bool_:
        raise TemporalError("image must be numeric, got dtype bool (warp masks as float)")
    if dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):
        src = image.astype(np.float32)
    if src.ndim == 3 and src.shape[2] > 4:
        parts = [
            cv2.remap(
                np.ascontiguousarray(src[:, :, i : i + 4]),
                map_x,
                map_y,
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            for i in range(0, src.shape[2], 4)
        ]
        parts = [p[:, :, None] if p.ndim == 2 else p for p in parts]
        out = np.concatenate(parts, axis=2)
    else:
        out = cv2.remap(
            np.ascontiguousarray(src),
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if image.ndim == 3 and out.ndim == 2:
            out = out[:, :, None]
    return out.astype(dtype, copy=False)


def flow_to_tensor(flow: np.ndarray | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Numpy ``(H, W, 2)`` or tensor ``(B|1, 2, H, W)`` flow -> float tensor on ``like``."""
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(check_flow_array(flow)).permute(2, 0, 1)[None]
    if not isinstance(flow, torch.Tensor):
        raise TemporalError(f"flow must be a numpy array or tensor, got {type(flow)}")
    if flow.ndim == 3 and flow.shape[0] == 2:
        flow = flow[None]
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise TemporalError(f"flow tensor must have shape (B, 2, H, W), got {tuple(flow.shape)}")
    dtype = like.dtype if like.is_floating_point() else torch.float32
    return flow.to(device=like.device, dtype=dtype)


def _warp_torch(image: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    if image.ndim != 4:
        raise TemporalError(f"image tensor must have shape (B, C, H, W), got {tuple(image.shape)}")
    b, _, h, w = image.shape
    f = flow_to_tensor(flow, image)
    if f.shape[2:] != (h, w) or f.shape[0] not in (1, b):
        raise TemporalError(
            f"flow {tuple(f.shape)} does not fit image {tuple(image.shape)} (want (B|1, 2, H, W))"
        )
    work = image if image.is_floating_point() else image.float()
    if work.dtype in (torch.float16, torch.bfloat16) and work.device.type == "cpu":
        work = work.float()
    f = f.to(work.dtype)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=image.device, dtype=work.dtype),
        torch.arange(w, device=image.device, dtype=work.dtype),
        indexing="ij",
    )
    gx = (xs + f[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + f[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).expand(b, h, w, 2)
    out = F.grid_sample(work, grid, mode="bilinear", padding_mode="border", align_corners=True)
    if not image.is_floating_point():
        info = torch.iinfo(image.dtype)
        out = out.round().clamp(info.min, info.max)
    return out.to(image.dtype)


def warp(image: ImageT, flow: np.ndarray | torch.Tensor) -> ImageT:
    """Backward-warp ``image`` along ``flow``: ``out[p] = image[p + flow[p]]``.

    Args:
        image: numpy ``(H, W)`` or ``(H, W, C)`` (uint8, uint16, int16 or float), or a torch
            tensor ``(B, C, H, W)`` (a latent or image batch).
        flow: ``(H, W, 2)`` numpy array (x in channel 0) or, for tensors, ``(B|1, 2, H, W)``.

    Returns:
        The warped image, same type, shape and dtype (integers are rounded).

    Convention: bilinear sampling, border replicate; pixel centres at integer coordinates;
    torch uses ``grid_sample(align_corners=True)``. ``warp(prev_output, flow(cur, prev))``
    aligns the previous output to the current frame.
    """
    if isinstance(image, torch.Tensor):
        return _warp_torch(image, flow)
    if not isinstance(flow, np.ndarray):
        if isinstance(flow, torch.Tensor) and flow.ndim == 4 and flow.shape[0] == 1:
            flow = flow[0].permute(1, 2, 0).detach().cpu().numpy()
        else:
            raise TemporalError("flow for a numpy image must be a (H, W, 2) numpy array")
    return _warp_numpy(image, flow)
