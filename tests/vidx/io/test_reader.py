from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tests.conftest import pattern
from vidx.errors import InputError, OptionError
from vidx.frame import Frame
from vidx.io.probe import probe
from vidx.io.reader import Passthrough, Reader, Trim


def frames_of(path, trim=Trim()):
    with Reader(path, trim) as reader:
        return [f for f in reader if isinstance(f, Frame)]


def test_cfr_frames_and_pixels(clip) -> None:
    path = clip(frames=10, size=(96, 64))
    frames = frames_of(path)
    assert [f.index for f in frames] == list(range(10))
    assert [round(f.time, 4) for f in frames] == [round(i / 24, 4) for i in range(10)]
    assert frames[3].rgb.shape == (64, 96, 3) and frames[3].rgb.dtype == np.uint8
    diff = np.abs(frames[3].rgb.astype(int) - pattern(3, 96, 64).astype(int)).mean()
    assert diff < 6


def test_vfr_timestamps_are_kept_exactly(clip) -> None:
    pts = [0, 1, 3, 4, 9, 10, 17]
    path = clip(frames=len(pts), pts=pts, time_base=Fraction(1, 30), fps=30)
    frames = frames_of(path)
    assert [f.time for f in frames] == pytest.approx([p / 30 for p in pts], abs=1e-4)


def test_rotation_is_applied(clip) -> None:
    path = clip(frames=3, size=(96, 64), rotation=90)
    frames = frames_of(path)
    assert frames[0].rgb.shape == (96, 64, 3)
    assert probe(path).rotation == 90 and (probe(path).width, probe(path).height) == (64, 96)
    expected = np.rot90(pattern(0, 96, 64), k=1)
    assert np.abs(frames[0].rgb.astype(int) - expected.astype(int)).mean() < 6


def test_ten_bit_source_becomes_8_bit_rgb(clip) -> None:
    path = clip(frames=4, pix_fmt="yuv420p10le")
    assert probe(path).bit_depth == 10
    frames = frames_of(path)
    assert len(frames) == 4 and frames[0].rgb.dtype == np.uint8
    assert np.abs(frames[1].rgb.astype(int) - pattern(1, 96, 64).astype(int)).mean() < 6


def test_odd_size_source(clip) -> None:
    path = clip("odd.mkv", frames=4, size=(95, 63), pix_fmt="yuv444p")
    assert frames_of(path)[0].rgb.shape == (63, 95, 3)


def test_file_without_frame_count(clip) -> None:
    path = clip("in.mkv", frames=7)
    info = probe(path)
    assert not info.frames_exact
    assert len(frames_of(path)) == 7


def test_trim_start_duration_and_max_frames(clip) -> None:
    path = clip(frames=48, audio=True)
    frames = frames_of(path, Trim(start=0.5, duration=0.5))
    assert len(frames) == 12
    assert frames[0].time == pytest.approx(0.0, abs=1e-3)
    assert frames[-1].time == pytest.approx(11 / 24, abs=1e-3)
    assert len(frames_of(path, Trim(max_frames=5))) == 5
    assert len(frames_of(path, Trim(start=1.0, max_frames=100))) == 24


def test_audio_packets_are_trimmed_with_the_video(clip) -> None:
    path = clip(frames=48, audio=True)
    with Reader(path, Trim(max_frames=12)) as reader:
        items = list(reader)
    audio = [i for i in items if isinstance(i, Passthrough)]
    last = max(float(a.packet.pts * a.packet.time_base) for a in audio)
    assert 0.4 < last < 0.5
    assert reader.end_time == pytest.approx(0.5, abs=1e-3)


def test_bad_trims() -> None:
    with pytest.raises(OptionError, match="^start "):
        Trim(start=-1)
    with pytest.raises(OptionError, match="^duration "):
        Trim(duration=0)
    with pytest.raises(OptionError, match="^max_frames "):
        Trim(max_frames=0)


def test_start_past_the_end_is_an_input_error(clip) -> None:
    path = clip(frames=5)
    with pytest.raises(InputError, match="no decodable video frame"):
        frames_of(path, Trim(start=30.0))


def test_reader_stops_early_without_hanging(clip) -> None:
    path = clip(frames=40)
    reader = Reader(path, prefetch=2)
    it = iter(reader)
    next(it)
    reader.close()
