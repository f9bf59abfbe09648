"""Every engine busy: classical resizes in YUV, segments encoded side by side, --threads."""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from skimage import data

from tests.conftest import make_clip
from vidx.api import render
from vidx.errors import OptionError
from vidx.io.colour import Colour, from_rgb, to_rgb
from vidx.io.writer import resample
from vidx.jobs.segment_plan import segments_at_once, side_by_side_frames
from vidx.options import AnalysisOptions, RunOptions
from vidx.pipeline import Output
from vidx.upscale.classic import ClassicUpscaler
from vidx.values.sizes import parse_size


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def photo_frame(index: int, width: int, height: int) -> np.ndarray:
    photo = cv2.resize(data.astronaut(), (width + 40, height + 40), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(photo[index : index + height, index : index + width])


def test_the_yuv_resize_matches_the_rgb_path(tmp_path: Path) -> None:
    """libswscale Lanczos in YUV against YUV -> RGB -> OpenCV Lanczos -> YUV (the path it
    replaced), on a real photo: PSNR over Y, U, V >= 45 dB."""
    clip = make_clip(tmp_path / "in.mp4", 2, (320, 180), image=photo_frame)
    size = (1280, 720)
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0))
    colour = Colour.of(frame).resolved(frame.width, frame.height)  # the source's, as the reader
    old = from_rgb(
        cv2.resize(to_rgb(frame), size, interpolation=cv2.INTER_LANCZOS4), "yuv420p", colour
    )
    new = resample(frame, size, "lanczos", "yuv420p", colour)
    assert (new.width, new.height, new.format.name) == (1280, 720, "yuv420p")
    mse = np.mean((old.to_ndarray().astype(np.float64) - new.to_ndarray()) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 45


def test_a_classical_upscale_in_parallel_segments_equals_one_at_a_time(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", 12, (96, 64))
    common = dict(size="x2", segment_frames=4, preset="ultrafast")
    serial = render(clip, tmp_path / "serial.mp4", parallel_segments=1, threads=1, **common)
    both = render(clip, tmp_path / "both.mp4", parallel_segments=2, threads=2, **common)
    assert serial.frames == both.frames == 12
    a, b = decoded(tmp_path / "serial.mp4"), decoded(tmp_path / "both.mp4")
    assert len(a) == len(b) == 12 and a[0].shape == (128, 192, 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_segments_run_side_by_side_only_without_models(tmp_path: Path) -> None:
    lanczos = Output(tmp_path / "o.mp4", ClassicUpscaler("lanczos"), parse_size("x2"))
    assert segments_at_once(3, [lanczos], None, todo=10) == 3
    assert segments_at_once(3, [lanczos], None, todo=2) == 2  # never more than are left
    assert segments_at_once(3, [lanczos], AnalysisOptions(), todo=10) == 1  # temporal state

    model = Output(tmp_path / "m.mp4", object(), parse_size("x2"))  # type: ignore[arg-type]
    assert segments_at_once(3, [lanczos, model], None, todo=10) == 1
    assert segments_at_once(0, [lanczos], None, todo=1) == 1
    assert segments_at_once(0, [lanczos], None, todo=10) >= min(2, os.cpu_count() or 1)


def test_threads_is_checked() -> None:
    with pytest.raises(OptionError) as err:
        RunOptions(threads=-1)
    assert err.value.param == "threads"
    assert RunOptions(threads=4).threads == 4


def test_a_short_clip_is_cut_finer_only_for_encoders_side_by_side() -> None:
    assert side_by_side_frames(240, 24, 2) == 12  # two encoders get a segment each
    assert side_by_side_frames(240, 24, 1) == 240  # one at a time: as asked
    assert side_by_side_frames(240, 600, 2) == 240  # long enough already
    assert side_by_side_frames(240, 16, 4) == 12  # not under MIN_SIDE_BY_SIDE_FRAMES
    assert side_by_side_frames(4, 12, 2) == 4  # never longer than asked
