"""Real clips nobody here made (Debian's python3-imageio and opencv-doc): frames, timing and
audio survive a transcode and an upscale. Skipped where the packages cannot be fetched."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.conftest import run_cli, stream_duration, video_timestamps


@pytest.mark.parametrize(
    ("name", "ext", "frames"),
    [("realshort.mp4", "mp4", None), ("cockatoo.mp4", "mp4", 40), ("Megamind.avi", "mkv", 40)],
)
def test_real_clip_keeps_timing_and_audio(real_clip, tmp_path: Path, name, ext, frames) -> None:
    src = real_clip(name)
    out = tmp_path / f"out.{ext}"
    args = ["upscale", str(src), "-o", str(out), "--size", "x2", "--preset", "ultrafast"]
    if frames:
        args += ["--max-frames", str(frames)]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    want = sorted(video_timestamps(src))[: frames or None]  # display order
    got = video_timestamps(out)
    assert len(got) == len(want)
    assert [g - got[0] for g in got] == pytest.approx([w - want[0] for w in want], abs=2e-3)
    if frames is None:
        assert stream_duration(out, "audio") == pytest.approx(
            stream_duration(src, "audio"), abs=0.03
        )
    else:
        video_span = frames * (want[1] - want[0])
        assert stream_duration(out, "audio") == pytest.approx(video_span, abs=0.15)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert a.streams.audio[0].codec_context.name == b.streams.audio[0].codec_context.name
