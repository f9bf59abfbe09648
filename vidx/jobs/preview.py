"""``vidx preview``: restyle a few frames at several settings and lay them out on one sheet.

Only the frames shown are decoded (a seek near each one), each is restyled as a keyframe at the
backend's working resolution (no temporal state, no upscaling), so a sheet takes seconds.
Rows: the source first (labelled ``source``), then one row per value of the one setting that
varies; columns: the frames, first to last. ``--keep``/``--mask`` apply to every row (a box or a
mask picture where it was drawn: the shown frames are too far apart to track it).
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np

from vidx.errors import InputError, OptionError
from vidx.frame import FrameContext
from vidx.io.images import write_image
from vidx.io.probe import as_fraction, open_input, probe
from vidx.io.reader import frame_to_rgb
from vidx.options import DeviceOptions, RestyleOptions
from vidx.regions import RegionTrack, composite
from vidx.restyle.base import Restyler
from vidx.restyle.factory import make_restyler
from vidx.upscale.classic import resize

VARIABLE = ("strength", "style", "seed", "prompt", "lora", "ip_adapter_scale")
HEADER_HEIGHT = 28  # strip above the cells with the column labels
LABEL_WIDTH = 160  # column left of the cells with the row labels
BACKGROUND = (24, 24, 24)
TEXT = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_FRAMES = 16


def pick_frame_times(duration: float, n: int, step: float = 0.0) -> list[float]:
    """``n`` times spread evenly from 0 to the last frame's start (``duration - step``).

    ``n == 1`` gives the middle; ``n == 3`` gives first, middle, last.
    """
    if n < 1:
        raise OptionError(f"must be at least 1, got {n}", param="frames")
    last = max(0.0, duration - step)
    if n == 1:
        return [last / 2]
    return [last * i / (n - 1) for i in range(n)]


def grab_frames(path: str | Path, n: int = 3) -> list[tuple[float, np.ndarray]]:
    """Decode only the ``n`` frames at :func:`pick_frame_times`: ``[(time_s, rgb)]``.

    For each time, seek to the keyframe before it and decode up to the first frame at or after
    it (or the last frame, past the end). Times count from the stream's first frame.
    """
    info = probe(path)
    rate = float(as_fraction(info.average_rate) or 0)
    times = pick_frame_times(info.duration or 0.0, n, 1.0 / rate if rate else 0.0)
    container = open_input(path)
    picked: list[tuple[float, np.ndarray]] = []
    try:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        tb = vs.time_base
        origin = float(vs.start_time * tb) if vs.start_time is not None and tb else 0.0
        for t in times:
            container.seek(int((origin + t) * av.time_base), backward=True, any_frame=False)
            best: tuple[float, np.ndarray] | None = None
            for frame in container.decode(vs):
                if frame.pts is None or tb is None:
                    continue
                ft = float(frame.pts * tb) - origin
                best = (ft, frame_to_rgb(frame))
                if ft >= t - 1e-3:
                    break
            if best is None:
                raise InputError(f"{path}: no decodable frame near {t:.2f} s")
            picked.append(best)
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: cannot decode the video ({exc})") from None
    finally:
        container.close()
    return picked


def _wrap(text: str, width: int, scale: float) -> list[str]:
    """Split ``text`` into lines that fit ``width`` px (long words are cut)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        cand = f"{line} {word}".strip()
        if cv2.getTextSize(cand, FONT, scale, 1)[0][0] <= width or not line:
            line = cand
        else:
            lines.append(line)
            line = word
        while cv2.getTextSize(line, FONT, scale, 1)[0][0] > width and len(line) > 1:
            line = line[:-1]
    return [*lines, line] if line else lines


def _put_lines(canvas: np.ndarray, lines: list[str], x: int, y: int, h: int, scale: float) -> None:
    step = cv2.getTextSize("Ag", FONT, scale, 1)[0][1] + 8
    for i, text in enumerate(lines[: max(1, (h - 4) // step)]):
        cv2.putText(canvas, text, (x, y + (i + 1) * step - 2), FONT, scale, TEXT, 1, cv2.LINE_AA)


def make_sheet(
    rows: list[tuple[str, list[np.ndarray]]], col_labels: list[str], cell_width: int = 320
) -> np.ndarray:
    """Lay ``rows`` of ``(label, images)`` out as a labelled grid: ``(H, W, 3)`` uint8.

    Every cell is ``cell_width`` wide and as tall as the first image's aspect gives; images
    are resized to fit the cell exactly. The sheet is
    ``(HEADER_HEIGHT + len(rows) * cell_h, LABEL_WIDTH + len(col_labels) * cell_width)``,
    white labels on a dark strip above (columns) and left (rows).
    """
    if not rows or not col_labels:
        raise ValueError("make_sheet needs at least one row and one column")
    if not 32 <= cell_width <= 4096:
        raise OptionError(f"must be 32 to 4096 pixels, got {cell_width}", param="cell_width")
    h0, w0 = rows[0][1][0].shape[:2]
    cell_h = max(1, round(cell_width * h0 / w0))
    cols = len(col_labels)
    shape = (HEADER_HEIGHT + len(rows) * cell_h, LABEL_WIDTH + cols * cell_width, 3)
    sheet = np.full(shape, BACKGROUND, dtype=np.uint8)
    for c, label in enumerate(col_labels):
        x = LABEL_WIDTH + c * cell_width
        _put_lines(sheet, _wrap(label, cell_width - 12, 0.5)[:1], x + 6, 0, HEADER_HEIGHT, 0.5)
    for r, (label, images) in enumerate(rows):
        if len(images) != cols:
            raise ValueError(f"row {label!r} has {len(images)} images for {cols} columns")
        y = HEADER_HEIGHT + r * cell_h
        _put_lines(sheet, _wrap(label, LABEL_WIDTH - 12, 0.5), 6, y, cell_h, 0.5)
        for c, image in enumerate(images):
            x = LABEL_WIDTH + c * cell_width
            sheet[y : y + cell_h, x : x + cell_width] = resize(image, (cell_width, cell_h))
    return sheet


def check_variations(base: RestyleOptions, variations: dict[str, list]) -> tuple[str | None, list]:
    """Validate the value lists: known keys, non-empty, strengths in [0, 1], at most one list with
    several values. Returns ``(varying key or None, its values)``."""
    varying: list[str] = []
    for key, values in variations.items():
        if key not in VARIABLE:
            raise OptionError(
                f"cannot vary in a preview (it varies {', '.join(VARIABLE)})", param=key
            )
        if not isinstance(values, list | tuple) or not values:
            raise OptionError(f"needs at least one value, got {values!r}", param=key)
        if len(values) > 1:
            varying.append(key)
    if len(varying) > 1:
        raise OptionError(
            f"and {varying[1]} both list several values; a preview sheet varies one setting, "
            "the others take one value",
            param=varying[0],
        )
    if not varying:
        return None, [None]
    return varying[0], list(variations[varying[0]])


def plan_rows(
    base: RestyleOptions, variations: dict[str, list], frames: int, cell_width: int
) -> tuple[list[RestyleOptions], str | None, list]:
    """Check the sheet's options; one restyle option set per row, the varying key, its values."""
    if not 1 <= frames <= MAX_FRAMES:
        raise OptionError(f"must be 1 to {MAX_FRAMES}, got {frames}", param="frames")
    if not 32 <= cell_width <= 4096:
        raise OptionError(f"must be 32 to 4096 pixels, got {cell_width}", param="cell_width")
    key, values = check_variations(base, variations)
    fixed = {k: row_value(k, v[0]) for k, v in variations.items() if k != key}
    specs = [
        base.with_values(
            **{**fixed, **({key: row_value(key, v)} if key else {}), "temporal": False}
        )
        for v in values
    ]
    return specs, key, values


def row_value(key: str, value: object) -> object:
    """A row's value as the option takes it: a ``lora`` row is a comma list of
    ``PATH[:WEIGHT]`` applied together (``""``: no LoRA)."""
    if key == "lora" and isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def row_label(key: str | None, value: object, spec: RestyleOptions) -> str:
    if key is None:
        return f"{spec.backend} restyle"
    if key == "prompt":
        return f"prompt: {value}"
    if key == "lora":
        return "lora " + (", ".join(Path(v).name for v in str(value).split(",")) or "none")
    return f"{key} {value}"


def _restylers(specs: list[RestyleOptions], device: DeviceOptions) -> list[Restyler]:
    """One restyler per spec; diffusion rows share the first row's loaded pipeline."""
    out: list[Restyler] = []
    for spec in specs:
        pipe = getattr(out[0], "pipe", None) if out else None
        if spec.backend == "diffusion" and pipe is not None:
            from vidx.restyle.diffusion import DiffusionRestyler

            out.append(DiffusionRestyler(spec, device, pipe=pipe))
        else:
            out.append(make_restyler(spec, device))
    return out


def _cell(
    restyler: Restyler, rgb: np.ndarray, region: RegionTrack | None, index: int
) -> np.ndarray:
    """One frame restyled as a keyframe; with ``region`` only there, the source elsewhere (a
    box or mask picture where it was drawn: the frames are too far apart to follow the motion;
    a mask video's frame ``index``), at the restyle's working size."""
    ctx = FrameContext(index, rgb, keyframe=True)
    if region is None:
        return restyler(rgb, ctx)
    region.reset()
    ctx.region = region.track(ctx, rgb.shape[:2])
    out = restyler(rgb, ctx)
    size = (out.shape[1], out.shape[0])
    return composite(out, resize(rgb, size), region.weight(ctx.region, size))


def run_preview(
    input: str | Path,
    output: str | Path,
    base: RestyleOptions,
    variations: dict[str, list],
    device: DeviceOptions = DeviceOptions(),
    frames: int = 3,
    cell_width: int = 320,
    rate: float | None = None,
) -> dict:
    """Write a contact sheet PNG/JPEG: the source row, then one row per varied value.

    ``variations`` maps ``strength``/``style``/``seed``/``prompt``/``lora``/
    ``ip_adapter_scale`` to value lists; at most one list has several values (the rows), single
    values apply to every row. ``rate`` (frames/s) numbers each shown frame as the render
    would (a prompt schedule shows the prompt of that frame). Returns a summary
    (rows, frame times, sheet size, timings in seconds). The output path is checked by the
    caller (:func:`vidx.api.preview`).
    """
    src, out = Path(input), Path(output)
    # 1. check everything before any work
    specs, key, values = plan_rows(base, variations, frames, cell_width)
    started = time.perf_counter()
    # 2. decode only the frames shown
    grabbed = grab_frames(src, frames)
    t_decode = time.perf_counter()
    # 3. build the restylers and run every frame as a keyframe
    restylers = _restylers(specs, device)
    t_load = time.perf_counter()
    rows: list[tuple[str, list[np.ndarray]]] = [("source", [rgb for _, rgb in grabbed])]
    if rate is None and base.masked:  # a mask video's frames are numbered by the clip's rate
        rate = float(as_fraction(probe(src).average_rate) or 0)
    for value, spec, restyler in zip(values, specs, restylers, strict=True):
        cells = []
        region = RegionTrack(spec.mask, spec.keep, spec.mask_feather) if spec.masked else None
        for i, (t, rgb) in enumerate(grabbed):
            restyler.reset()
            cells.append(_cell(restyler, rgb, region, round(t * rate) if rate else i))
        if region is not None:
            region.close()
        rows.append((row_label(key, value, spec), cells))
    t_restyle = time.perf_counter()
    # 4. lay out and write
    sheet = make_sheet(rows, [f"t={t:.2f}s" for t, _ in grabbed], cell_width)
    write_image(out, sheet)
    done = time.perf_counter()
    return {
        "output": str(out),
        "rows": [label for label, _ in rows],
        "varying": key,
        "times": [t for t, _ in grabbed],
        "sheet_size": [sheet.shape[1], sheet.shape[0]],
        "restyle": [r.describe() for r in restylers],
        "timings_s": {
            "decode": t_decode - started,
            "load": t_load - t_decode,
            "restyle": t_restyle - t_load,
            "write": done - t_restyle,
            "total": done - started,
        },
    }
