"""Image sequences in and out (vidx.io.image_sequence, vidx.io.sequence_writer,
vidx.jobs.sequence_job): PNG/TIFF 16-bit kept, EXR/DPX written and read back, --fps timing,
folder input, resume at frame level, an output that would overwrite the input refused before
anything is written."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import make_clip, run_cli
from vidx.io.image_sequence import Sequence, SequenceReader, find_sequence, hashed
from vidx.io.reader import Reader
from vidx.jobs.run import Target, plan
from vidx.jobs.sequence_job import manifest_path, run_sequence
from vidx.options import JobOptions
from vidx.pipeline import JobContext, Output
from vidx.upscale.classic import ClassicUpscaler
from vidx.values.sizes import parse_size

W, H, N = 64, 48, 6


def deep_frame(i: int) -> np.ndarray:
    """A 16-bit RGB picture whose values are not multiples of 257 (8-bit values widened)."""
    y, x = np.mgrid[0:H, 0:W]
    r = (x * 1000 + i * 97 + 3) % 65536
    g = (y * 1300 + i * 31 + 5) % 65536
    b = ((x + y) * 600 + 11) % 65536
    return np.stack([r, g, b], axis=-1).astype(np.uint16)


def write_png16(folder: Path, count: int = N, first: int = 1) -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{first + i:06d}.png"), deep_frame(i)[:, :, ::-1])
    return folder / "%06d.png"


def read_back(pattern: Path) -> list[np.ndarray]:
    """Every frame of a sequence as uint16 RGB, through vidx's own reader."""
    with SequenceReader(find_sequence(pattern), deep=True) as reader:
        return [f.rgb for f in reader.frames()]


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - missing from this FFmpeg build
        return False
    return True


def frame_times(path: Path) -> tuple[Fraction, list[float]]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return vs.average_rate, [float(f.time) for f in c.decode(vs)]


def test_video_to_png16_and_back(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=N, size=(W, H), pix_fmt="yuv420p10le")
    (tmp_path / "seq").mkdir()
    result = run_cli("upscale", src, "-o", tmp_path / "seq" / "%06d.png")
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert files == ["######.png.json"] + [f"{i:06d}.png" for i in range(1, N + 1)]
    first = cv2.imread(str(tmp_path / "seq" / "000001.png"), cv2.IMREAD_UNCHANGED)
    assert first.dtype == np.uint16 and first.shape == (H, W, 3)  # the 10-bit source stays deep
    assert np.any(first % 257)
    sidecar = json.loads((tmp_path / "seq" / "######.png.json").read_text())
    assert sidecar["frames"] == N
    with Reader(src, deep=True) as reader:  # the sequence holds the decoded source, at 16 bits
        source = [f.rgb for f in reader.frames()]
    written = read_back(tmp_path / "seq" / "%06d.png")
    for a, b in zip(source, written, strict=True):
        np.testing.assert_array_equal(a, b)
    back = tmp_path / "back.mp4"
    result = run_cli("upscale", tmp_path / "seq" / "%06d.png", "-o", back, "--fps", "24")
    assert result.exit_code == 0, result.output
    rate, times = frame_times(back)
    assert rate == 24 and len(times) == N
    with av.open(str(src)) as a, av.open(str(back)) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        for fa, fb in pairs:
            x, y = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            mse = np.mean((x.astype(float) - y) ** 2)
            assert 10 * np.log10(255**2 / mse) > 30  # two lossy x264 generations


def test_16_bit_kept_png_to_tiff(tmp_path: Path) -> None:
    pattern = write_png16(tmp_path / "in")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "f.%04d.tif"
    result = run_cli("upscale", pattern, "-o", out)
    assert result.exit_code == 0, result.output
    for i in range(N):
        got = cv2.imread(str(tmp_path / "out" / f"f.{i + 1:04d}.tif"), cv2.IMREAD_UNCHANGED)
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got[:, :, ::-1], deep_frame(i))  # not quantised to 8 bits


def test_tiff16_sequence_to_video_to_png_sequence(tmp_path: Path) -> None:
    pattern = write_png16(tmp_path / "png")
    (tmp_path / "tif").mkdir()
    tif = tmp_path / "tif" / "%04d.tif"
    assert run_cli("upscale", pattern, "-o", tif).exit_code == 0
    mov = tmp_path / "mid.mov"
    result = run_cli("upscale", tif, "-o", mov, "--codec", "prores", "--profile", "4444")
    assert result.exit_code == 0, result.output
    (tmp_path / "back").mkdir()
    result = run_cli("upscale", mov, "-o", tmp_path / "back" / "%06d.png")
    assert result.exit_code == 0, result.output
    back = sorted((tmp_path / "back").glob("*.png"))
    assert [p.name for p in back] == [f"{i:06d}.png" for i in range(1, N + 1)]  # exact count
    for i, path in enumerate(back):
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16  # the 10-bit ProRes comes back deep
        assert np.abs(raw[:, :, ::-1].astype(float) - deep_frame(i)).mean() < 300


@pytest.mark.parametrize(
    ("ext", "encoder", "extra", "tolerance"),
    [
        (".exr", "exr", ["--exr", "half"], 0.001),
        (".exr", "exr", ["--exr", "float"], 1 / 65535),
        (".dpx", "dpx", [], 0.0),
        (".tiff", "tiff", [], 0.0),
    ],
)
def test_other_formats_write_and_read(
    tmp_path: Path, ext: str, encoder: str, extra: list[str], tolerance: float
) -> None:
    if not has_encoder(encoder):
        pytest.skip(f"this FFmpeg build has no {encoder} encoder")
    pattern = write_png16(tmp_path / "in")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / f"%03d{ext}"
    result = run_cli("upscale", pattern, "-o", out, *extra)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / f"006{ext}").is_file()
    frames = read_back(out)
    assert len(frames) == N
    for i, got in enumerate(frames):
        want = deep_frame(i).astype(float)
        error = np.abs(got.astype(float) - want).max() / 65535
        assert error <= tolerance + 1e-9, (ext, i, error)


def test_rational_fps_gives_exact_timing(tmp_path: Path) -> None:
    pattern = write_png16(tmp_path / "in")
    out = tmp_path / "out.mov"
    result = run_cli("upscale", pattern, "-o", out, "--fps", "24000/1001", "--codec", "prores")
    assert result.exit_code == 0, result.output
    rate, times = frame_times(out)
    assert rate == Fraction(24000, 1001)
    assert times == pytest.approx([i * 1001 / 24000 for i in range(N)], abs=1e-6)
    probed = run_cli("probe", pattern, "--fps", "24000/1001")
    assert probed.exit_code == 0, probed.output
    assert "24000/1001 fps" in probed.output and "6 frames" in probed.output
    assert "16-bit" in probed.output and "64x48" in probed.output


def test_default_fps_is_said(tmp_path: Path) -> None:
    pattern = write_png16(tmp_path / "in")
    result = run_cli("upscale", pattern, "-o", tmp_path / "out.mp4")
    assert result.exit_code == 0, result.output
    assert "read at 24 fps (no --fps given)" in result.output
    assert frame_times(tmp_path / "out.mp4")[0] == 24


def test_folder_input(tmp_path: Path) -> None:
    folder = write_png16(tmp_path / "shot").parent
    (folder / "notes.txt").write_text("not a frame")
    result = run_cli("upscale", folder, "-o", tmp_path / "out.mp4", "--fps", "25")
    assert result.exit_code == 0, result.output
    rate, times = frame_times(tmp_path / "out.mp4")
    assert rate == 25 and len(times) == N


def test_gap_is_one_line(tmp_path: Path) -> None:
    pattern = write_png16(tmp_path / "in")
    (tmp_path / "in" / "000004.png").unlink()
    result = run_cli("upscale", pattern, "-o", tmp_path / "out.mp4")
    assert result.exit_code == 2
    assert "frame 000004.png is missing" in result.output


@pytest.mark.parametrize("via_folder", [False, True])
def test_output_over_the_input_is_refused(tmp_path: Path, via_folder: bool) -> None:
    pattern = write_png16(tmp_path / "in")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "in").iterdir()}
    src = pattern.parent if via_folder else pattern
    result = run_cli("upscale", src, "-o", pattern, "--overwrite", "--size", "x2")
    assert result.exit_code == 2, result.output
    assert "would overwrite the input sequence" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "in").iterdir()} == before


def test_existing_frames_need_overwrite(tmp_path: Path) -> None:
    pattern = write_png16(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "0002.png").write_bytes(b"someone's frame")
    result = run_cli("upscale", pattern, "-o", tmp_path / "out" / "%04d.png")
    assert result.exit_code == 2
    assert "0002.png already exists; add --overwrite" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0002.png"]


def test_audio_is_said_to_be_left_out(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(W, H), audio=True)
    (tmp_path / "out").mkdir()
    result = run_cli("upscale", src, "-o", tmp_path / "out" / "%04d.png")
    assert result.exit_code == 0, result.output
    assert "an image sequence holds no audio" in result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 3


class Counting:
    """Lanczos that counts its calls and raises on call ``fail_at`` (a crash mid-job)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.inner = ClassicUpscaler("lanczos")
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, image, size, ctx=None):  # noqa: ANN001, ANN204
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated crash")
        return self.inner(image, size, ctx)

    def describe(self) -> dict:
        return self.inner.describe()


def test_resume_redoes_no_finished_frame(tmp_path: Path) -> None:
    seq = find_sequence(write_png16(tmp_path / "in"), Fraction(25))
    (tmp_path / "out").mkdir()
    pattern = tmp_path / "out" / "%06d.png"
    job = plan(seq.pattern, [Target(pattern, JobOptions().with_values(fps=25, size="x2"))])
    crashing = Counting(fail_at=4)
    out = Output(pattern, crashing, parse_size("x2"), options=job.shared)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_sequence(JobContext(job.source), out, job.info)
    kept = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert kept == ["######.png.resume.json", "000001.png", "000002.png", "000003.png"]
    stamps = {n: (tmp_path / "out" / n).stat().st_mtime_ns for n in kept[1:]}
    (tmp_path / "out" / ".000004.png.part").write_bytes(b"half a frame")  # a torn write
    again = Counting()
    result = run_sequence(
        JobContext(job.source),
        Output(pattern, again, parse_size("x2"), options=job.shared),
        job.info,
    )
    assert again.calls == N - 3 and result.frames == N
    assert {n: (tmp_path / "out" / n).stat().st_mtime_ns for n in stamps} == stamps
    assert not manifest_path(pattern).exists()
    assert json.loads((tmp_path / "out" / "######.png.json").read_text())["frames"] == N
    frames = read_back(pattern)
    assert len(frames) == N and frames[5].shape == (2 * H, 2 * W, 3)


def test_resume_refuses_other_options(tmp_path: Path) -> None:
    seq = find_sequence(write_png16(tmp_path / "in"))
    pattern = tmp_path / "%06d.png"
    out = Output(pattern, Counting(fail_at=2), parse_size("x2"))
    with pytest.raises(RuntimeError):
        run_sequence(JobContext(seq), out, plan(seq.pattern, [Target(pattern, JobOptions())]).info)
    result = run_cli("upscale", seq.pattern, "-o", pattern, "--size", "x3")
    assert result.exit_code == 2
    assert "options differ" in result.output


def test_derived_names() -> None:
    assert hashed(Path("out/shot.%04d.exr")) == Path("out/shot.####.exr")
    seq = Sequence(Path("a/%03d.png"), 9, 3)
    assert [p.name for p in seq.files()] == ["009.png", "010.png", "011.png"]
