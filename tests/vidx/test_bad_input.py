"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import run_cli, video_timestamps
from vidx.errors import VidxError
from vidx.io.reader import Trim
from vidx.io.writer import EncodeSettings
from vidx.pipeline import JobContext, Output, run
from vidx.upscale.classic import ClassicUpscaler
from vidx.values.sizes import parse_size


def assert_clean_failure(result, out: Path, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and needle in lines[0]
    assert not out.exists() and not Path(str(out) + ".part").exists()
    assert not Path(str(out) + ".json").exists()


def upscale(src: Path, out: Path, *extra: str):
    return run_cli("upscale", src, "-o", out, *extra)


def test_missing_file(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert_clean_failure(upscale(tmp_path / "nope.mp4", out), out, "does not exist")


def test_empty_file(tmp_path: Path) -> None:
    src, out = tmp_path / "empty.mp4", tmp_path / "out.mp4"
    src.write_bytes(b"")
    assert_clean_failure(upscale(src, out), out, "empty")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    src, out = tmp_path / "notes.mp4", tmp_path / "out.mp4"
    src.write_text("this is not a video\n" * 50)
    assert_clean_failure(upscale(src, out), out, "not a readable video")


def test_audio_only_file(tmp_path: Path) -> None:
    import av

    src, out = tmp_path / "audio.m4a", tmp_path / "out.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        for i in range(20):
            f = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            f.sample_rate, f.pts = 48000, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    assert_clean_failure(upscale(src, out), out, "no video stream")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--codec", "divx"], "--codec"),
        (["--size", "bigger"], "--size"),
        (["--fit", "zoom"], "--fit"),
        (["--upscaler", "magic"], "--upscaler"),
        (["--crf", "99"], "--crf"),
        (["--preset", "warp"], "--preset"),
        (["--pix-fmt", "rgb999"], "--pix-fmt"),
        (["--start", "-2"], "--start"),
        (["--codec", "prores"], "cannot be stored"),
    ],
)
def test_bad_options(clip, tmp_path: Path, args: list[str], needle: str) -> None:
    src, out = clip(frames=3), tmp_path / "out.mp4"
    assert_clean_failure(upscale(src, out, *args), out, needle)


def test_unknown_output_extension(clip, tmp_path: Path) -> None:
    src, out = clip(frames=3), tmp_path / "out.xyz"
    assert_clean_failure(upscale(src, out), out, "unknown video extension")


def test_truncated_file_keeps_the_readable_part(clip, tmp_path: Path) -> None:
    src = clip("full.mkv", frames=48)
    cut = tmp_path / "cut.mkv"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out.mp4"
    result = upscale(cut, out)
    assert result.exit_code == 0, result.output
    n = len(video_timestamps(out))
    # the readable part is what a plain decode of the cut file gets (how many frames fit in 60 %
    # of the bytes varies with x264's output, which differs from run to run: 10 or 11 of 48)
    readable = 0
    with av.open(str(cut)) as container:
        try:
            for _ in container.decode(video=0):
                readable += 1
        except av.error.FFmpegError:
            pass  # the cut itself
    assert 0 < readable < 48
    assert readable - 1 <= n <= readable


class Exploding(ClassicUpscaler):
    def __init__(self, at: int) -> None:
        super().__init__("lanczos")
        self.calls, self.at = 0, at

    def __call__(self, image, size, ctx=None):
        self.calls += 1
        if self.calls == self.at:
            raise VidxError("boom in the middle")
        return super().__call__(image, size, ctx)


def test_failure_mid_run_removes_partial_output(clip, tmp_path: Path) -> None:
    src, out = clip(frames=30, audio=True), tmp_path / "out.mp4"
    with pytest.raises(VidxError, match="boom"):
        run(
            JobContext(src, trim=Trim()),
            [Output(out, Exploding(at=20), parse_size("x2"), encode=EncodeSettings())],
        )
    assert not out.exists() and not Path(str(out) + ".part").exists()
