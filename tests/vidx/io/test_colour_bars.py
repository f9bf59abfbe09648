"""Issue 12, item 2 done-when: BT.601 SD, BT.709 HD and BT.2020 PQ 10-bit colour bars keep
their colours (mean CIEDE2000 <= 1.0 between source and output, both decoded from their own
tags by the numpy decoder in :mod:`tests.vidx.io.colour_clips`, not by vidx) and their tags,
at ``--size source`` and through a 2x Lanczos upscale. ``scripts/bench_colour.py`` records the
figures on larger clips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import vidx
from tests.vidx.io.colour_clips import (
    HD_709,
    HD_709_FULL,
    SD_601,
    UHD_PQ,
    ClipSpec,
    colour_bars,
    decode_rgb,
    mean_ciede2000,
    spec_tags,
    tags,
    write_clip,
)

# one frame each and a PQ clip at 640x360 keep the file fast; the HD clip stays 1280x720
CLIPS = [
    replace(SD_601, frames=1),
    replace(HD_709, frames=1),
    replace(UHD_PQ, width=640, height=360, frames=1),
    replace(HD_709_FULL, frames=1),
]


def upscaled(frames: list[np.ndarray], factor: int) -> list[np.ndarray]:
    """The source frames resized like the output (Lanczos), so only colour differs."""
    out = []
    for f in frames:
        h, w = f.shape[:2]
        big = cv2.resize(f.astype(np.float32), (w * factor, h * factor), cv2.INTER_LANCZOS4)
        out.append(np.clip(big, 0, 1))
    return out


@pytest.mark.parametrize("spec", CLIPS, ids=lambda s: s.name)
@pytest.mark.parametrize("size", ["source", "x2"])
def test_colour_bars_keep_colours_and_tags(tmp_path: Path, spec: ClipSpec, size: str) -> None:
    src = write_clip(tmp_path / f"in{spec.suffix}", spec)
    source = decode_rgb(src)
    assert mean_ciede2000(source[0], colour_bars(spec.width, spec.height), 3) < 0.5  # the ruler
    out = tmp_path / f"out{spec.suffix}"
    vidx.render(src, out, size=size, preset="ultrafast", segment_frames=0)
    assert tags(out) == spec_tags(spec)
    info = vidx.probe(out)
    assert info.bit_depth == spec.bits
    result = decode_rgb(out)
    reference = source if size == "source" else upscaled(source, 2)
    assert len(result) == len(reference) == spec.frames
    assert result[0].shape == reference[0].shape
    delta = np.mean([mean_ciede2000(a, b, 3) for a, b in zip(reference, result, strict=True)])
    assert delta <= 1.0, f"{spec.name} {size}: mean CIEDE2000 {delta:.3f}"
