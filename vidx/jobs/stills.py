"""One picture in, one picture out: restyle and upscale a still (``vidx`` with an image input
and an image output), with its sidecar.

Models (restylers, learned upscalers) take uint8, so a 16-bit picture keeps its depth only on the
classical upscale-only path (``cv2.resize`` works on uint16); every other path is 8-bit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vidx.frame import FrameContext
from vidx.io.images import DEEP_EXTS, read_image, to_uint8, write_image
from vidx.io.sidecar import write_sidecar
from vidx.regions import RegionTrack, composite
from vidx.restyle.base import Restyler
from vidx.upscale.base import Upscaler
from vidx.values.sizes import SizeSpec, place, plan_layout


def is_classical(upscaler: Upscaler) -> bool:
    """True for resamplers that take any depth (``describe()['kind'] == 'classical'``)."""
    return upscaler.describe().get("kind") == "classical"


def _restyle(
    image: np.ndarray, restyler: Restyler | None, region: RegionTrack | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``image`` restyled as a keyframe (only inside ``region``, when there is one), and the
    region's weight map (None: no region)."""
    if restyler is None:
        return image, None
    restyler.reset()
    ctx = FrameContext(0, image, keyframe=True)
    area = None
    if region is not None:
        region.reset()
        area = region.track(ctx, image.shape[:2])
        ctx.region = area
    return restyler(image, ctx), area


def process_still(
    input: str | Path,
    output: str | Path,
    *,
    restyler: Restyler | None,
    upscaler: Upscaler,
    size: SizeSpec,
    fit: str = "contain",
    params: dict | None = None,
    region: RegionTrack | None = None,
) -> dict:
    """Restyle (optional) and upscale one picture onto the ``size``/``fit`` canvas.

    Writes ``output`` and its sidecar ``output + '.json'`` (parameters, sizes, timings,
    versions); both appear only when complete. Returns the sidecar's dict.
    Convention: a 16-bit source stays 16-bit only without a restyler and with a classical
    upscaler; otherwise it is rounded to 8 bits first (and ``warnings`` says so). With
    ``region`` (``--mask``/``--keep``) only that part is restyled: the rest is the source,
    upscaled the same way. The paths are checked by the caller (:func:`vidx.jobs.run.plan`).
    """
    src, out = Path(input), Path(output)
    # 1. read
    started = time.perf_counter()
    image = read_image(src)
    source_depth = 16 if image.dtype == np.uint16 else 8
    h, w = image.shape[:2]
    t_read = time.perf_counter()
    warnings: list[str] = []
    if image.dtype == np.uint16 and (restyler is not None or not is_classical(upscaler)):
        image = to_uint8(image)
        why = "restyle" if restyler is not None else f"the {upscaler.name} upscaler"
        warnings.append(f"the 16-bit input was rounded to 8 bits for {why}")
    # 2. restyle as a keyframe (only inside the region, when there is one)
    source = image
    image, area = _restyle(image, restyler, region)
    t_restyle = time.perf_counter()
    # 3. upscale and place on the canvas (layout planned on the source size, as for video)
    layout = plan_layout(size, (w, h), fit)
    image = upscaler(image, layout.content, None)
    if region is not None and area is not None:
        plain = getattr(upscaler, "base", upscaler)(source, layout.content, None)
        image = composite(image, plain, region.weight(area, layout.content))
    image = place(np.ascontiguousarray(image), layout.canvas)
    t_upscale = time.perf_counter()
    # 4. write picture and sidecar, both atomically; on failure leave neither
    record = {
        "input": {"path": str(src), "width": w, "height": h, "bit_depth": source_depth},
        "size": {
            "spec": size.text,
            "fit": fit,
            "content": list(layout.content),
            "canvas": list(layout.canvas),
        },
        "output_bit_depth": 16
        if image.dtype == np.uint16 and out.suffix.lower() in DEEP_EXTS
        else 8,
        "restyle": restyler.describe() if restyler is not None else None,
        "upscale": upscaler.describe(),
        "frames": 1,
        "warnings": warnings,
    }
    write_image(out, image)
    t_write = time.perf_counter()
    record["timings_s"] = {
        "read": t_read - started,
        "restyle": t_restyle - t_read,
        "upscale": t_upscale - t_restyle,
        "write": t_write - t_upscale,
        "total": t_write - started,
    }
    try:
        write_sidecar(out, record, params or {})
    except BaseException:
        out.unlink(missing_ok=True)  # the picture landed, its sidecar did not
        raise
    return record
