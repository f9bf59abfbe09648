"""The committed sample clips are what the demo, the README and the benchmarks expect."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.parametrize(
    ("name", "size", "frames"),
    [("rocket-tilt.mp4", (640, 360), 84), ("astronaut-pan.mp4", (320, 180), 48)],
)
def test_sample_clip(name: str, size: tuple[int, int], frames: int) -> None:
    path = SAMPLES / name
    assert path.stat().st_size < 1_500_000
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == size
        assert video.average_rate == 24
        assert len(container.streams.audio) == 1
        assert sum(1 for _ in container.decode(video=0)) == frames
    assert name.removesuffix(".mp4") in (SAMPLES / "LICENSE.md").read_text()
