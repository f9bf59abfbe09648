"""Blend the current result with the warped previous one (``fuse``: a masked pixel blend), and
carry colour statistics over (``match_color``, ``follow_color``). Not x̂0 fusion (that is the
diffusion backend's, ``vidx.restyle.diffusion.x0_fusion``).

Convention: numpy images are ``(H, W, C)`` (or ``(H, W)``), torch batches ``(B, C, H, W)``;
masks are ``(H, W)`` (or ``(B, 1, H, W)`` for tensors), bool or float in [0, 1].
"""

from __future__ import annotations

from typing import TypeVar

import cv2
import numpy as np
import torch

from temporal._checks import check_image, check_unit
from temporal.errors import TemporalError

ImageT = TypeVar("ImageT", np.ndarray, torch.Tensor)


def _to_out_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _torch_mask(mask: np.ndarray | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    m = torch.from_numpy(np.asarray(mask)) if isinstance(mask, np.ndarray) else mask
    if not isinstance(m, torch.Tensor):
        raise TemporalError(f"mask must be a numpy array or tensor, got {type(mask)}")
    m = m.to(device=like.device, dtype=torch.float32)
    if m.ndim == 2:
        m = m[None, None]
    if m.ndim != 4 or m.shape[1] != 1 or m.shape[2:] != like.shape[2:]:
        raise TemporalError(
            f"mask must have shape (H, W) or (B, 1, H, W) matching {tuple(like.shape)}, "
            f"got {tuple(m.shape)}"
        )
    return m


def fuse(
    current: ImageT,
    warped_previous: ImageT,
    mask: np.ndarray | torch.Tensor,
    weight: float,
) -> ImageT:
    """``current * (1 - w * m) + warped_previous * (w * m)``.

    Args:
        current: numpy ``(H, W, C)`` (uint8 or float) or tensor ``(B, C, H, W)``.
        warped_previous: same shape and kind, already warped onto the current frame.
        mask: ``(H, W)`` bool or float soft mask (tensors also ``(B, 1, H, W)``), 1 = reliable.
        weight: ``w`` in [0, 1], how much of the previous result to keep where reliable.

    Returns:
        The blend, same kind, shape and dtype as ``current`` (integers rounded and clipped).
    """
    w = check_unit(weight, "weight")
    if isinstance(current, torch.Tensor):
        if not isinstance(warped_previous, torch.Tensor) or warped_previous.shape != current.shape:
            raise TemporalError("warped_previous must be a tensor with the shape of current")
        if current.ndim != 4:
            raise TemporalError(f"current must have shape (B, C, H, W), got {tuple(current.shape)}")
        m = _torch_mask(mask, current) * w
        out = current.float() * (1.0 - m) + warped_previous.to(current.device).float() * m
        if not current.is_floating_point():
            info = torch.iinfo(current.dtype)
            out = out.round().clamp(info.min, info.max)
        return out.to(current.dtype)
    current = check_image(current, "current")
    if not isinstance(warped_previous, np.ndarray) or warped_previous.shape != current.shape:
        raise TemporalError("warped_previous must be a numpy array with the shape of current")
    m = np.asarray(mask, dtype=np.float32)
    if m.shape != current.shape[:2]:
        raise TemporalError(f"mask must have shape {current.shape[:2]}, got {m.shape}")
    m = m * w
    if current.ndim == 3:
        m = m[:, :, None]
    out = current.astype(np.float32) * (1.0 - m) + warped_previous.astype(np.float32) * m
    return _to_out_dtype(out, current.dtype)


def _masked_stats(x: np.ndarray, m: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of ``(H, W, C)`` ``x`` over ``m`` (all pixels if None or empty)."""
    if x.ndim == 3 and x.shape[-1] <= 4:  # OpenCV's one-pass statistics, no masked copy
        mask = None if m is None or not m.any() else m.astype(np.uint8)
        mean, std = cv2.meanStdDev(np.ascontiguousarray(x, dtype=np.float32), mask=mask)
        return mean.ravel(), std.ravel()
    pix = x.reshape(-1, x.shape[-1]) if m is None else x[m]
    if pix.shape[0] == 0:
        pix = x.reshape(-1, x.shape[-1])
    return pix.mean(axis=0), pix.std(axis=0)


def match_color(
    image: ImageT,
    reference: ImageT,
    mask: np.ndarray | torch.Tensor | None = None,
) -> ImageT:
    """AdaIN colour match: per channel, give ``image`` the mean and std of ``reference``.

    Args:
        image: numpy ``(H, W, C)`` (uint8 or float) or tensor ``(B, C, H, W)``.
        reference: same kind and channel count (may differ in size when ``mask`` is None).
        mask: optional ``(H, W)`` bool (tensors also ``(B, 1, H, W)``); statistics of both
            images are taken over the True pixels only (image and reference must then have
            the same size). An all-False mask falls back to the whole image.

    Returns:
        ``(image - mean_i) / std_i * std_r + mean_r`` over the whole image, same kind, shape and
        dtype as ``image`` (integers rounded and clipped).
    """
    eps = 1e-6
    if isinstance(image, torch.Tensor):
        if not isinstance(reference, torch.Tensor) or image.ndim != 4 or reference.ndim != 4:
            raise TemporalError("image and reference must both be (B, C, H, W) tensors")
        if reference.shape[:2] != image.shape[:2] and reference.shape[0] != 1:
            raise TemporalError(
                f"reference {tuple(reference.shape)} does not fit image {tuple(image.shape)}"
            )
        x = image.float()
        r = reference.to(image.device).float()
        if mask is None:
            mu_i, sd_i = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True, correction=0)
            mu_r, sd_r = r.mean((2, 3), keepdim=True), r.std((2, 3), keepdim=True, correction=0)
        else:
            if reference.shape[2:] != image.shape[2:]:
                raise TemporalError("reference must have the size of image when a mask is given")
            m = _torch_mask(mask, image)
            m = m.expand(image.shape[0], 1, *image.shape[2:])
            m = torch.where(m.sum((2, 3), keepdim=True) > 0, m, torch.ones_like(m))
            n = m.sum((2, 3), keepdim=True)
            mu_i = (x * m).sum((2, 3), keepdim=True) / n
            sd_i = (((x - mu_i) ** 2 * m).sum((2, 3), keepdim=True) / n).sqrt()
            mu_r = (r * m).sum((2, 3), keepdim=True) / n
            sd_r = (((r - mu_r) ** 2 * m).sum((2, 3), keepdim=True) / n).sqrt()
        out = (x - mu_i) / (sd_i + eps) * sd_r + mu_r
        if not image.is_floating_point():
            info = torch.iinfo(image.dtype)
            out = out.round().clamp(info.min, info.max)
        return out.to(image.dtype)
    image = check_image(image, "image")
    reference = check_image(reference, "reference")
    x = image.astype(np.float32)
    r = reference.astype(np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    if r.ndim == 2:
        r = r[:, :, None]
    if x.shape[2] != r.shape[2]:
        raise TemporalError(f"reference must have {x.shape[2]} channels, got {r.shape[2]}")
    m = None
    if mask is not None:
        m = np.asarray(mask).astype(bool)
        if m.shape != x.shape[:2] or r.shape[:2] != x.shape[:2]:
            raise TemporalError(
                f"mask, image and reference must share the size {x.shape[:2]}, got mask "
                f"{m.shape} and reference {r.shape[:2]}"
            )
    mu_i, sd_i = _masked_stats(x, m)
    mu_r, sd_r = _masked_stats(r, m)
    out = (x - mu_i) / (sd_i + eps) * sd_r + mu_r
    out = out.reshape(image.shape)
    return _to_out_dtype(out, image.dtype)


def follow_color(
    image: np.ndarray,
    previous: np.ndarray,
    source: np.ndarray,
    source_previous: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    previous_std: np.ndarray | None = None,
    max_gain: float = 2.0,
) -> np.ndarray:
    """Colour continuity that follows the source: per channel, give ``image`` the statistics of
    ``previous`` changed as the source changed (a fade stays a fade).

    Args:
        image: ``(H, W, C)`` the current output.
        previous: ``(H, W, C)`` the previous output warped into the current frame.
        source: ``(H, W, C)`` the current source frame, same size.
        source_previous: ``(H, W, C)`` the previous source frame warped the same way.
        mask: ``(H, W)`` bool, where the warp is reliable; statistics are taken there only
            (an all-False mask falls back to the whole frame).
        previous_std: per-channel std of the previous output itself, used instead of the
            warped one's (a bilinear warp lowers the std a little, which would add up frame
            after frame).
        max_gain: bound on the source's contrast change per frame (and its inverse).

    Returns:
        ``(image - mean_i) / std_i * std_t + mean_t`` with ``mean_t = mean_p + (mean_s -
        mean_sp)`` and ``std_t = std_p * std_s / std_sp`` (masked statistics), same dtype as
        ``image``; for integer images the offset is corrected so the masked mean reaches
        ``mean_t`` after clipping.
    """
    eps = 1e-6
    arrays = [check_image(a, n) for a, n in ((image, "image"), (previous, "previous"))]
    arrays += [check_image(a, n) for a, n in ((source, "source"), (source_previous, "source_p"))]
    x, p, s, sp = (a.astype(np.float32).reshape(a.shape[0], a.shape[1], -1) for a in arrays)
    if not (x.shape == p.shape == s.shape == sp.shape):
        raise TemporalError(
            f"image, previous, source and source_previous must share one shape, got "
            f"{[a.shape for a in (x, p, s, sp)]}"
        )
    m = None if mask is None else np.asarray(mask).astype(bool)
    if m is not None and m.shape != x.shape[:2]:
        raise TemporalError(f"mask must have the size {x.shape[:2]}, got {m.shape}")
    mu_i, sd_i = _masked_stats(x, m)
    mu_p, sd_p = _masked_stats(p, m)
    if previous_std is not None:
        sd_p = np.asarray(previous_std, dtype=np.float32).reshape(sd_p.shape)
    mu_s, sd_s = _masked_stats(s, m)
    mu_sp, sd_sp = _masked_stats(sp, m)
    gain = np.clip((sd_s + eps) / (sd_sp + eps), 1.0 / max_gain, max_gain)
    target = mu_p + mu_s - mu_sp
    out = (x - mu_i) / (sd_i + eps) * (sd_p * gain) + target
    if np.issubdtype(image.dtype, np.integer):  # clipping moves the mean: give it back
        info = np.iinfo(image.dtype)
        for _ in range(4):
            mu_c, _ = _masked_stats(np.clip(out, info.min, info.max), m)
            out = out + (target - mu_c)
    return _to_out_dtype(out.reshape(image.shape), image.dtype)
