"""``vidx styles --gallery``: one frame of the user's clip in every built-in style, on one sheet.

The frame (or the picture) is stylized once per style by ``multistyle26`` at the size a restyle
would work at (the frame, capped at ``max_side`` on its long side, as ``--max-side``), so the
strokes look as they will in the video, then shrunk to a thumbnail. The sheet is a grid of
``cell_width``-wide cells, the source first, each with a label strip below it (``source``,
``0 soft-paint``, ...). No temporal state and no upscaling: a gallery takes seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vidx.errors import InputError, OptionError, OutputError
from vidx.io.images import is_image_path, read_image, to_uint8, write_image
from vidx.io.probe import probe
from vidx.io.reader import Reader, Trim
from vidx.restyle.style import (
    MIN_SIDE,
    onnx_providers,
    onnx_session,
    stylize_builtin,
    work_size,
)
from vidx.restyle.style_catalog import list_styles, parse_style
from vidx.upscale.classic import resize

COLUMNS = 7  # 27 cells (source + 26 styles): 4 rows of 7
LABEL_HEIGHT_PER_PX = 0.09  # label strip height per pixel of cell width (23 px at 256)
BACKGROUND = (24, 24, 24)
TEXT = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def gallery_frame(input: str | Path, time: float | None = None) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 RGB frame a gallery shows: a picture itself, or the clip's frame
    at ``time`` seconds from its first frame (None: the middle of the clip)."""
    path = Path(input)
    if time is not None and not (math.isfinite(time) and time >= 0):
        raise OptionError(f"must be >= 0 seconds, got {time}", param="time")
    if is_image_path(path):
        return to_uint8(read_image(path))
    if time is None:
        from vidx.jobs.preview import grab_frames

        return grab_frames(path, 1)[0][1]
    duration = probe(path).duration
    if duration is not None and time >= duration:
        raise OptionError(
            f"must be less than the clip's {duration:.2f} s, got {time}", param="time"
        )
    with Reader(path, Trim(start=time, max_frames=1), copy_streams=False) as reader:
        for frame in reader.frames():
            return frame.rgb
    raise InputError(f"{path}: no frame at {time} s")


def _label(cell: np.ndarray, text: str) -> None:
    """Write ``text`` into the label strip ``cell`` (cut to fit), white on the background."""
    h, w = cell.shape[:2]
    scale = max(0.3, min(0.5, h / 46))
    while len(text) > 1 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > w - 8:
        text = text[:-1]
    baseline = (h + cv2.getTextSize(text, FONT, scale, 1)[0][1]) // 2
    cv2.putText(cell, text, (4, baseline), FONT, scale, TEXT, 1, cv2.LINE_AA)


def make_gallery(tiles: list[tuple[str, np.ndarray]], cell_width: int = 256) -> np.ndarray:
    """Lay ``(label, image)`` tiles out in rows of :data:`COLUMNS`: ``(H, W, 3)`` uint8.

    Every image is resized to ``cell_width`` wide and the first image's aspect; each cell has a
    label strip of ``round(cell_width * LABEL_HEIGHT_PER_PX)`` px (at least 14) below it.
    """
    if not tiles:
        raise ValueError("make_gallery needs at least one tile")
    h0, w0 = tiles[0][1].shape[:2]
    cell_h = max(1, round(cell_width * h0 / w0))
    label_h = max(14, round(cell_width * LABEL_HEIGHT_PER_PX))
    cols = min(COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.full((rows * (cell_h + label_h), cols * cell_width, 3), BACKGROUND, np.uint8)
    for i, (label, image) in enumerate(tiles):
        x, y = (i % cols) * cell_width, (i // cols) * (cell_h + label_h)
        sheet[y : y + cell_h, x : x + cell_width] = resize(image, (cell_width, cell_h))
        _label(sheet[y + cell_h : y + cell_h + label_h, x : x + cell_width], label)
    return sheet


def style_gallery(
    input: str | Path,
    output: str | Path,
    *,
    time: float | None = None,
    cell_width: int = 256,
    overwrite: bool = False,
    max_side: int | None = 1024,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a contact sheet of ``input``'s frame in every built-in style to ``output``.

    ``input`` is a clip (the frame at ``time`` seconds, None: the middle) or a picture;
    ``output`` a picture path (PNG recommended), written atomically. ``max_side`` caps the
    stylized frame's long side as ``--max-side`` does in a restyle; ``device`` is the
    ``--device`` word; ``progress(done, total)`` is called after each style. Refuses the input
    itself and an existing ``output`` without ``overwrite`` (OutputError), before any work.
    Returns ``output``.
    """
    # 1. check inputs and output
    src, out = Path(input), Path(output)
    if not 32 <= cell_width <= 4096:
        raise OptionError(f"must be 32 to 4096 pixels, got {cell_width}", param="cell_width")
    if max_side is not None and max_side < MIN_SIDE:
        raise OptionError(f"must be at least {MIN_SIDE} pixels, got {max_side}", param="work_size")
    if not is_image_path(out):
        raise OptionError(f"{out}: not a picture name; use a .png file", param="gallery")
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if out.exists() and out.resolve() == src.resolve():
        raise OutputError(f"{out} is the input file; choose another name for the gallery")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists; add --overwrite to replace it")
    if not out.parent.is_dir():
        raise OutputError(f"{out}: the folder {out.parent} does not exist")
    # 2. prepare the frame at the work size and the style network
    frame = gallery_frame(src, time)
    h, w = frame.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(
            f"{src}: the style network needs at least {MIN_SIDE} px a side, got {w}x{h}"
        )
    wh, ww = work_size(h, w, max_side)
    source = (
        frame if (wh, ww) == (h, w) else cv2.resize(frame, (ww, wh), interpolation=cv2.INTER_AREA)
    )
    session = onnx_session("multistyle26", onnx_providers(device))
    # 3. stylize once per style
    styles = list_styles()
    tiles: list[tuple[str, np.ndarray]] = [("source", source)]
    for done, info in enumerate(styles, start=1):
        styled = stylize_builtin(source, parse_style(info.index), session)
        tiles.append(
            (f"{info.index} {info.name}", np.clip(styled * 255.0 + 0.5, 0, 255).astype(np.uint8))
        )
        if progress is not None:
            progress(done, len(styles))
    # 4. lay out and write atomically
    return write_image(out, make_gallery(tiles, cell_width))
