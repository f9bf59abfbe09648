"""Issue 23: one pixel limit (``--max-pixels``), applied everywhere. Every frame of an image
sequence (from its header, at planning and again as the reader reaches it), the output size
``--size`` gives (after ``--fit``), style images and masks; ``--size`` at most x8;
``--max-pixels`` at most 32768x32768, in a job file too. A sequence frame that cannot be decoded
is an error naming it, or with ``--skip-bad-frames`` left out and said in one warning.

Every refusal is exit 2 with one line, before anything is written. Pictures are tiny and the
caps small, so each case runs in a fraction of a second."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx
from vidx.errors import InputError, OptionError
from vidx.io.image_sequence import SequenceReader, check_sizes, find_sequence
from vidx.io.inputs import MAX_PIXELS_CEILING, image_size
from vidx.io.sequence_writer import SequenceWriter
from vidx.jobs.run import Target, plan
from vidx.options import InputOptions, JobOptions
from vidx.values.sizes import parse_size


def picture(path: Path, width: int, height: int, value: int = 90) -> Path:
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(path)
    return path


def sequence(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    """PNG frames ``f_0001.png ..`` of ``sizes``; returns the pattern."""
    folder.mkdir()
    for i, (w, h) in enumerate(sizes, start=1):
        picture(folder / f"f_{i:04d}.png", w, h, 40 * i)
    return folder / "f_%04d.png"


def truncate(path: Path) -> None:
    """Keep the header, cut the pixels: only decoding finds it broken."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def break_frame(path: Path, how: str) -> None:
    if how == "junk":  # not a picture at all: the header read (planning) finds it
        path.write_bytes(b"not a picture\n")
    else:
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 48, 3), np.uint8)).save(path)
        truncate(path)


# -- sequences ---------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["out.mp4", "out/%04d.png"])
def test_a_later_sequence_frame_over_the_cap(tmp_path: Path, output: str) -> None:
    """A small first frame does not vouch for the rest: frame 2 is over the cap."""
    pattern = sequence(tmp_path / "in", [(16, 16), (64, 64), (16, 16)])
    (tmp_path / "out").mkdir()
    before = snapshot(tmp_path)
    result = vidx("upscale", pattern, "-o", tmp_path / output, "--max-pixels", "1000")
    assert_user_error(result, "f_0002.png", "64x64", "--max-pixels")
    assert snapshot(tmp_path) == before


def test_planning_reads_every_frame_header(tmp_path: Path) -> None:
    pattern = sequence(tmp_path / "in", [(16, 16), (16, 16), (64, 64)])
    options = JobOptions().with_values(max_pixels=1000)
    with pytest.raises(InputError, match="f_0003.png is 64x64"):
        plan(pattern, [Target(tmp_path / "out.mp4", options)])


def test_the_reader_checks_each_frame_again(tmp_path: Path) -> None:
    """A frame replaced by a larger one after planning is refused before it is decoded."""
    pattern = sequence(tmp_path / "in", [(16, 16), (16, 16), (16, 16)])
    seq = find_sequence(pattern, max_pixels=1000)
    check_sizes(seq)  # (what planning does)
    picture(tmp_path / "in" / "f_0002.png", 64, 64)
    with SequenceReader(seq) as reader:
        with pytest.raises(InputError, match="f_0002.png is 64x64"):
            list(reader.frames())


@pytest.mark.parametrize("how", ["junk", "truncated"])
def test_an_undecodable_frame_is_an_error(tmp_path: Path, how: str) -> None:
    pattern = sequence(tmp_path / "in", [(48, 32)] * 3)
    break_frame(tmp_path / "in" / "f_0002.png", how)
    before = snapshot(tmp_path)
    result = vidx("upscale", pattern, "-o", tmp_path / "out.mp4")
    assert_user_error(result, "f_0002.png", "--skip-bad-frames")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("how", ["junk", "truncated"])
def test_skip_bad_frames_leaves_it_out_with_one_warning(tmp_path: Path, how: str) -> None:
    pattern = sequence(tmp_path / "in", [(48, 32)] * 3)
    break_frame(tmp_path / "in" / "f_0002.png", how)
    (tmp_path / "out").mkdir()
    result = vidx("upscale", pattern, "-o", tmp_path / "out/%04d.png", "--skip-bad-frames")
    assert result.exit_code == 0, result.stderr
    frames = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert frames == ["0001.png", "0002.png"]  # 3 in, one left out
    sidecar = json.loads((tmp_path / "out" / "####.png.json").read_text())
    assert sidecar["frames"] == 2
    said = [w for w in sidecar["warnings"] if "f_0002.png" in w]
    assert len(said) == 1 and said[0].startswith("left out 1 input frame"), sidecar["warnings"]


def test_skip_bad_frames_is_for_sequences(clip, tmp_path: Path) -> None:
    result = vidx(
        "upscale", clip("in.mp4", frames=3), "-o", tmp_path / "o.mp4", "--skip-bad-frames"
    )
    assert_user_error(result, "--skip-bad-frames", "image-sequence")


@pytest.mark.parametrize("ext", [".exr", ".dpx"])
def test_exr_and_dpx_sizes_come_from_their_headers(tmp_path: Path, ext: str) -> None:
    """The header FFmpeg's decoder reads gives the size it decodes; a cap below it refuses the
    sequence without decoding any frame."""
    try:
        av.codec.Codec(ext[1:], "w")
    except Exception:  # noqa: BLE001 - missing from this FFmpeg build
        pytest.skip(f"no {ext} encoder")
    writer = SequenceWriter(tmp_path / f"%03d{ext}")
    writer.put_frame(np.zeros((20, 30, 3), np.uint8), 0)
    writer.put_frame(np.zeros((40, 50, 3), np.uint8), 1)
    writer.finish()
    for name, size in ((f"001{ext}", (30, 20)), (f"002{ext}", (50, 40))):
        assert image_size(tmp_path / name) == size
        with av.open(str(tmp_path / name)) as c:
            frame = next(c.decode(video=0))
            assert (frame.width, frame.height) == size
    with pytest.raises(InputError, match=f"002{ext} is 50x40"):
        check_sizes(find_sequence(tmp_path / f"%03d{ext}", max_pixels=1000))


# -- the output size -------------------------------------------------------------------------


def test_x16_is_refused(tmp_path: Path) -> None:
    src = picture(tmp_path / "in.png", 16, 16)
    before = snapshot(tmp_path)
    assert_user_error(vidx("upscale", src, "-o", tmp_path / "o.png", "--size", "x16"), "--size")
    assert snapshot(tmp_path) == before
    assert parse_size("x8").factor == 8
    with pytest.raises(OptionError, match="x8"):
        parse_size("x9")


@pytest.mark.parametrize("kind", ["still", "video", "sequence"])
def test_an_output_over_the_cap(clip, tmp_path: Path, kind: str) -> None:
    """The size --size resolves to is checked against --max-pixels before anything is written."""
    (tmp_path / "out").mkdir()
    if kind == "still":
        src, out = picture(tmp_path / "in.png", 64, 64), tmp_path / "out" / "o.png"
    elif kind == "video":
        src, out = clip("in.mp4", frames=3), tmp_path / "out" / "o.mp4"  # 96x64
    else:
        src, out = sequence(tmp_path / "in", [(64, 64)] * 2), tmp_path / "out" / "%04d.png"
    before = snapshot(tmp_path)
    result = vidx("upscale", src, "-o", out, "--size", "4k", "--max-pixels", "10000")
    assert_user_error(result, "--size 4k", "3840x2160", "--max-pixels")
    assert snapshot(tmp_path) == before


def test_fit_cover_counts_the_picture_before_its_crop(clip, tmp_path: Path) -> None:
    """A 2000x16 canvas is 32000 pixels, but cover first resizes 96x64 to 2000x1333."""
    src = clip("in.mp4", frames=3)
    before = snapshot(tmp_path)
    result = vidx(
        "upscale", src, "-o", tmp_path / "o.mp4", "--size", "2000x16", "--fit", "cover",
        "--max-pixels", "100000",
    )  # fmt: skip
    assert_user_error(result, "--size", "2000x1333")
    assert snapshot(tmp_path) == before


# -- the limit itself ------------------------------------------------------------------------


def test_max_pixels_has_an_upper_bound(tmp_path: Path) -> None:
    src = picture(tmp_path / "in.png", 16, 16)
    before = snapshot(tmp_path)
    too_many = str(MAX_PIXELS_CEILING + 1)
    result = vidx("upscale", src, "-o", tmp_path / "o.png", "--max-pixels", too_many)
    assert_user_error(result, "--max-pixels", str(MAX_PIXELS_CEILING))
    assert snapshot(tmp_path) == before
    assert InputOptions(max_pixels=MAX_PIXELS_CEILING).max_pixels == 32768 * 32768


def test_a_job_file_cannot_raise_it_past_the_bound(tmp_path: Path) -> None:
    src = picture(tmp_path / "in.png", 16, 16)
    job = tmp_path / "job.toml"
    job.write_text("[shared]\nmax_pixels = 100000000000000000000\n\n[variants.a]\nstyle = 1\n")
    before = snapshot(tmp_path)
    result = vidx("variants", src, "--job", job, "-o", tmp_path / "looks")
    assert_user_error(result, "job.toml:2", "max_pixels", str(MAX_PIXELS_CEILING))
    assert snapshot(tmp_path) == before


# -- style images and masks ------------------------------------------------------------------


def test_a_style_image_over_the_cap(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=3)  # 96x64 = 6144 pixels, within the cap
    style = picture(tmp_path / "style.png", 128, 128)
    before = snapshot(tmp_path)
    result = vidx(
        "restyle", src, "-o", tmp_path / "o.mp4", "--style-image", style,
        "--max-pixels", "10000",
    )  # fmt: skip
    assert_user_error(result, "style.png", "128x128", "--max-pixels")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["picture", "video"])
def test_a_mask_over_the_cap(clip, tmp_path: Path, kind: str) -> None:
    src = clip("in.mp4", frames=3)  # 96x64
    if kind == "picture":
        mask = picture(tmp_path / "mask.png", 192, 128, 255)
    else:
        mask = clip("mask.mp4", frames=3, size=(192, 128))
    before = snapshot(tmp_path)
    result = vidx(
        "restyle", src, "-o", tmp_path / "o.mp4", "--style", "0", "--mask", mask,
        "--max-pixels", "10000",
    )  # fmt: skip
    assert_user_error(result, mask.name, "192x128", "--max-pixels")
    assert snapshot(tmp_path) == before
