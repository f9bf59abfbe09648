"""Restyle only part of each frame: the region given by ``--mask``/``--keep``, carried along the
optical flow, and the composite of the restyled frame over the source.

Convention: a *region* is ``(H, W)`` float32 at the source frame's size, 1 where the frame is
restyled and 0 where the source is kept (a mask picture's white is 1, a ``--keep`` box is 0).

A mask picture or a box is drawn on the first frame and follows the motion: each frame, a
similarity (shift, rotation, uniform scale; ``cv2.estimateAffinePartial2D`` with RANSAC) is
fitted to the backward flow inside the tracked part, composed onto the motion so far, and the
*first-frame* region is warped by the whole of it, so a box stays a box (it never erodes or
smears, as warping the previous region again and again would). The tracked part is the kept side,
or the restyled side where that is the smaller one (the small part is the object; the rest is the
world around it). A scene cut puts the region back where it was drawn (a new shot: the drawn
place is the best guess); periodic keyframes keep following (they come with a flow). A mask video
is used frame by frame, not tracked: frame i of the processed clip takes mask frame i (its last
frame held when it is shorter), resized to the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidx.errors import OptionError
from vidx.frame import FrameContext
from vidx.io.images import is_image_path, read_image
from vidx.values.boxes import Box, parse_boxes

MIN_POINTS = 12  # fewer reliable flow vectors inside the tracked part: hold the motion
MAX_POINTS = 4000  # enough for a robust fit; more only costs time
ASPECT_TOLERANCE = 0.02  # a mask may differ from the input in size, not in shape


def box_pixels(box: Box, fraction: bool, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` in pixels of a frame of ``size = (H, W)``, clipped to it."""
    h, w = size
    x, y, bw, bh = (box[0] * w, box[1] * h, box[2] * w, box[3] * h) if fraction else box
    x0, y0 = min(w, max(0, round(x))), min(h, max(0, round(y)))
    return x0, y0, min(w, max(x0, round(x + bw))), min(h, max(y0, round(y + bh)))


def box_region(text: str, size: tuple[int, int]) -> np.ndarray:
    """The region of ``--keep`` boxes on a frame of ``size = (H, W)``: 0 inside, 1 elsewhere."""
    region = np.ones(size, dtype=np.float32)
    for box, fraction in parse_boxes(text):
        x0, y0, x1, y1 = box_pixels(box, fraction, size)
        region[y0:y1, x0:x1] = 0.0
    return region


def check_keep(text: str, size: tuple[int, int]) -> None:
    """Every box covers part of a frame of ``size = (H, W)``."""
    for box, fraction in parse_boxes(text):
        x0, y0, x1, y1 = box_pixels(box, fraction, size)
        if x1 <= x0 or y1 <= y0:
            raise OptionError(
                f"box {','.join(f'{v:g}' for v in box)} lies outside the {size[1]}x{size[0]} input",
                param="keep",
            )


def gray(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8/uint16 -> ``(H, W)`` float32 in [0, 1] (luma)."""
    peak = 65535.0 if rgb.dtype == np.uint16 else 255.0
    return cv2.cvtColor(rgb.astype(np.float32) / peak, cv2.COLOR_RGB2GRAY)


def fit_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A ``(h, w)`` float mask resized to ``size = (H, W)`` (area when shrinking)."""
    if mask.shape == size:
        return mask
    shrink = size[0] <= mask.shape[0] and size[1] <= mask.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(mask, (size[1], size[0]), interpolation=interp)


def mask_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of a mask picture or video (headers only)."""
    from vidx.io.inputs import image_size
    from vidx.io.probe import probe

    if is_image_path(path):
        return image_size(path, "mask")
    info = probe(path)
    return info.width, info.height


def check_mask(path: Path, size: tuple[int, int]) -> None:
    """The mask file is readable and has the input's shape (``size = (width, height)``)."""
    w, h = mask_size(path)
    if abs(w / h - size[0] / size[1]) > ASPECT_TOLERANCE * size[0] / size[1]:
        raise OptionError(
            f"{path} is {w}x{h}, the input {size[0]}x{size[1]}: a mask needs the input's shape "
            "(the same aspect ratio; it is resized to the frame)",
            param="mask",
        )


class MaskVideo:
    """A mask video read frame by frame, in step with the clip (its last frame held)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._container: Any = None
        self._frames: Any = None
        self._index = -1
        self._last: np.ndarray | None = None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._frames, self._index = None, None, -1

    def at(self, index: int) -> np.ndarray:
        """Mask frame ``index`` as ``(h, w)`` float32 in [0, 1] (frames are read forward)."""
        from vidx.io.probe import open_input
        from vidx.io.reader import frame_to_rgb

        if self._container is None or index < self._index:
            self.close()
            self._container = open_input(self.path)
            self._frames = self._container.decode(video=0)
        while self._index < index:
            frame = next(self._frames, None)
            if frame is None:
                break
            self._last, self._index = gray(frame_to_rgb(frame)), self._index + 1
        if self._last is None:
            raise OptionError(f"{self.path} has no decodable frame", param="mask")
        return self._last


def fit_motion(
    flow: np.ndarray, reliable: np.ndarray | None, inside: np.ndarray, size: tuple[int, int]
) -> np.ndarray | None:
    """The ``3x3`` similarity taking the previous frame's pixels to the current frame's, fitted
    to ``flow`` (``(h, w, 2)``, backward, analysis pixels) where ``inside`` (``(h, w)`` bool,
    current frame) and ``reliable`` hold; in pixels of a source frame of ``size = (H, W)``.
    None when too few vectors are left or the fit fails."""
    h, w = flow.shape[:2]
    keep = inside if reliable is None else inside & reliable
    ys, xs = np.nonzero(keep)
    if len(xs) < MIN_POINTS:
        return None
    if len(xs) > MAX_POINTS:
        pick = np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int)
        ys, xs = ys[pick], xs[pick]
    sx, sy = size[1] / w, size[0] / h  # analysis pixel centres -> source pixel centres
    cur = np.stack([(xs + 0.5) * sx - 0.5, (ys + 0.5) * sy - 0.5], axis=1)
    back = flow[ys, xs]
    prev = np.stack([(xs + back[:, 0] + 0.5) * sx - 0.5, (ys + back[:, 1] + 0.5) * sy - 0.5], 1)
    a, _ = cv2.estimateAffinePartial2D(
        prev.astype(np.float32),
        cur.astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=max(1.0, sx),
    )
    if a is None or not np.isfinite(a).all():
        return None
    return np.vstack([a, [0.0, 0.0, 1.0]])


def feathered(region: np.ndarray, px: float) -> np.ndarray:
    """``region`` with its edges softened over about ``px`` pixels (a Gaussian, σ = px / 4,
    centred on the edge)."""
    if px <= 0:
        return region
    return cv2.GaussianBlur(region, (0, 0), px / 4.0)


def composite(restyled: np.ndarray, source: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``restyled`` where ``weight`` (``(H, W)``, 1 = restyled) is 1, ``source`` where it is 0
    (exactly: ``source + 0``), blended between. Both ``(H, W, 3)`` of one dtype."""
    if restyled.shape != source.shape or weight.shape != restyled.shape[:2]:
        raise ValueError(
            f"composite needs matching shapes, got {restyled.shape}, {source.shape}, {weight.shape}"
        )
    src = source.astype(np.float32)
    out = src + weight[..., None] * (restyled.astype(np.float32) - src)
    peak = np.iinfo(source.dtype).max
    return np.clip(np.rint(out), 0, peak).astype(source.dtype)


class RegionTrack:
    """The region of one output, frame by frame (see the module's docstring).

    ``track(ctx, size)`` takes the frame's context (its flow at the analysis resolution) and
    the source frame's ``size = (H, W)``; frames arrive in order, ``reset()`` starts over.
    """

    def __init__(self, mask: str | None, keep: str | None, feather: float = 4.0) -> None:
        if mask is None and keep is None:
            raise ValueError("RegionTrack needs a mask or boxes to keep")
        self.mask, self.keep, self.feather = mask, keep, feather
        self.video = MaskVideo(Path(mask)) if mask and not is_image_path(mask) else None
        self.follows = bool(keep) or self.video is None  # a picture or a box follows the motion
        self.reset()

    def reset(self) -> None:
        self._drawn: np.ndarray | None = None
        self._motion = np.eye(3)
        self._prev: np.ndarray | None = None
        self.held = 0  # frames whose motion could not be fitted (kept where it was)
        if self.video is not None:
            self.video.close()

    def _draw(self, size: tuple[int, int]) -> np.ndarray:
        drawn = np.ones(size, dtype=np.float32)
        if self.mask and self.video is None:
            drawn = fit_size(gray(read_image(self.mask)), size)
        if self.keep:
            drawn = np.minimum(drawn, box_region(self.keep, size))
        return drawn

    def track(self, ctx: FrameContext, size: tuple[int, int]) -> np.ndarray:
        if self._drawn is None or self._drawn.shape != size:
            self._drawn, self._motion, self._prev = self._draw(size), np.eye(3), None
        elif ctx.scene_cut:
            self._motion = np.eye(3)
        elif self.follows and ctx.flow is not None and self._prev is not None:
            step = fit_motion(ctx.flow, ctx.mask, self._inside(ctx.flow), size)
            self.held += int(step is None)
            if step is not None:
                self._motion = step @ self._motion
        region = self._drawn
        if self.follows and not np.allclose(self._motion, np.eye(3)):
            region = cv2.warpAffine(
                self._drawn,
                self._motion[:2],
                (size[1], size[0]),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=1.0,
            )
        if self.video is not None:
            region = np.minimum(region, fit_size(self.video.at(ctx.index), size))
        self._prev = region
        return region

    def _inside(self, flow: np.ndarray) -> np.ndarray:
        """The tracked part of the previous region, carried to the current frame along
        ``flow`` at its resolution (bool ``(h, w)``)."""
        assert self._prev is not None
        h, w = flow.shape[:2]
        prev = fit_size(self._prev, (h, w))
        kept = prev < 0.5
        part = kept if kept.mean() <= 0.5 else ~kept
        grid = np.mgrid[0:h, 0:w].astype(np.float32)
        xs, ys = grid[1] + flow[..., 0], grid[0] + flow[..., 1]
        carried = cv2.remap(part.astype(np.float32), xs, ys, cv2.INTER_NEAREST, borderValue=0)
        return carried > 0.5

    def weight(self, region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The composite's weight at the output picture's ``size = (w, h)``: the region
        feathered at the source's resolution (``feather`` source pixels), then resized."""
        soft = feathered(region, self.feather)
        if (soft.shape[1], soft.shape[0]) == size:
            return soft
        return cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()

    def describe(self) -> dict:
        return {
            "mask": self.mask,
            "keep": self.keep,
            "feather": self.feather,
            "follows_motion": self.follows,
            "motion_held_frames": self.held,
        }
