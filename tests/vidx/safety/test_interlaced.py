"""Issue 9, case 9: what the output changes about the picture is said, once each. An
interlaced source is deinterlaced (one warning, same frame count and timestamps); a 4:4:4
odd-sized source gets one warning about the chroma and one about the odd size."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_clip, video_timestamps
from tests.vidx.io.test_deinterlace import N
from tests.vidx.io.test_deinterlace import make_clip as make_interlaced
from tests.vidx.safety.helpers import lines, vidx
from vidx.io.probe import probe


def warnings(stderr: str) -> list[str]:
    return [line for line in lines(stderr) if line.startswith("vidx: warning:")]


def test_interlaced_source_is_deinterlaced_with_one_warning(tmp_path: Path) -> None:
    src = make_interlaced(tmp_path / "i.mp4", interlaced=True)
    assert probe(src).interlaced
    out = tmp_path / "out.mp4"
    result = vidx("upscale", src, "-o", out, "--segment-frames", "0")
    assert result.exit_code == 0, result.stderr
    said = [w for w in warnings(result.stderr) if "interlaced" in w]
    assert len(said) == 1 and "bwdif" in said[0], result.stderr
    assert "Traceback" not in result.stderr
    assert len(video_timestamps(out)) == N
    assert video_timestamps(out) == video_timestamps(src)
    assert not probe(out).interlaced


def test_interlaced_segmented_run_warns_once(tmp_path: Path) -> None:
    src = make_interlaced(tmp_path / "i.mp4", interlaced=True)
    out = tmp_path / "out.mp4"
    result = vidx("upscale", src, "-o", out, "--segment-frames", "4")
    assert result.exit_code == 0, result.stderr
    assert len([w for w in warnings(result.stderr) if "interlaced" in w]) == 1, result.stderr
    assert len(video_timestamps(out)) == N


def test_deinterlace_off_keeps_it_and_says_nothing(tmp_path: Path) -> None:
    src = make_interlaced(tmp_path / "i.mp4", interlaced=True)
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4", "--deinterlace", "off")
    assert result.exit_code == 0, result.stderr
    assert not [w for w in warnings(result.stderr) if "interlaced" in w], result.stderr


def test_progressive_source_says_nothing(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "p.mp4", frames=6)
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4")
    assert result.exit_code == 0, result.stderr
    assert warnings(result.stderr) == []


def test_444_odd_size_gets_one_warning_each(tmp_path: Path) -> None:
    """The default pixel format keeps the source's 4:4:4 (issue 12), so what is said is that
    such h264 plays in fewer players, and the odd size; a 4:2:0 asked for says the loss."""
    src = make_clip(tmp_path / "c.mp4", frames=6, size=(95, 63), pix_fmt="yuv444p")
    info = probe(src)
    assert (info.width, info.height, info.pix_fmt) == (95, 63, "yuv444p")
    out = tmp_path / "out.mp4"
    result = vidx("upscale", src, "-o", out, "--size", "source")
    assert result.exit_code == 0, result.stderr
    said = warnings(result.stderr)
    kept = [w for w in said if "yuv444p h264" in w]
    odd = [w for w in said if "95x63" in w]
    assert len(kept) == 1 and "--pix-fmt yuv420p" in kept[0], said
    assert len(odd) == 1 and "96x64" in odd[0], said
    assert len(said) == 2, said
    got = probe(out)
    assert (got.width, got.height) == (96, 64) and len(video_timestamps(out)) == 6
    assert got.pix_fmt == "yuv444p"
    lowered = vidx("upscale", src, "-o", out, "--pix-fmt", "yuv420p", "--overwrite")
    chroma = [w for w in warnings(lowered.stderr) if "4:4:4" in w]
    assert len(chroma) == 1 and "4:2:0" in chroma[0] and "--pix-fmt" in chroma[0], lowered.stderr


def test_444_kept_when_asked_says_only_the_size(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "c.mp4", frames=6, size=(95, 63), pix_fmt="yuv444p")
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4", "--pix-fmt", "yuv444p")
    assert result.exit_code == 0, result.stderr
    said = warnings(result.stderr)
    assert len(said) == 1 and "95x63" in said[0], said
