"""The colour-managed, high-bit-depth path (issue 12, item 2): the source's matrix and range
are used both ways, 10-bit sources are processed at 16 bits and quantised once, the default
pixel format follows the source, tags describe what was encoded, probe shows colour, and a
model of 8-bit SDR pictures is said to lose depth or HDR."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

import vidx
from tests.vidx.io.colour_clips import (
    HD_709_FULL,
    HLG,
    SD_601,
    UHD_PQ,
    ClipSpec,
    decode_rgb,
    gradient,
    luma_levels,
    rgb_to_yuv420,
    spec_tags,
    tags,
    write_clip,
    yuv420_to_rgb,
)
from vidx.io.colour import Colour, follow_source, to_rgb
from vidx.io.reader import Reader
from vidx.io.writer import encoder_formats
from vidx.jobs.run import Target, notices
from vidx.options import JobOptions

GRADIENT = ClipSpec("gradient-10bit", 1024, 32, "libx265", 10, 9, 14, 9, frames=2, suffix=".mkv")


@pytest.mark.parametrize(
    ("matrix", "full", "bits"),
    [(6, False, 8), (1, False, 8), (1, True, 8), (9, False, 10), (9, True, 10), (5, True, 10)],
)
def test_to_rgb_uses_the_frames_own_matrix_and_range(matrix: int, full: bool, bits: int) -> None:
    rng = np.random.default_rng(matrix + bits)
    rgb = np.repeat(np.repeat(rng.random((8, 8, 3)), 4, 0), 4, 1)  # flat 4x4 blocks
    fmt = "yuv420p" if bits == 8 else f"yuv420p{bits}le"
    frame = av.VideoFrame.from_ndarray(rgb_to_yuv420(rgb, matrix, full, bits), fmt)
    frame.colorspace, frame.color_range = matrix, 2 if full else 1
    got = to_rgb(frame, deep=True)
    peak = 255 if bits == 8 else 65535
    assert got.dtype == (np.uint8 if bits == 8 else np.uint16)
    want = yuv420_to_rgb(frame)  # the independent decoder, from the same tags
    inner = (slice(1, None, 4), slice(1, None, 4))  # block centres: no chroma interpolation
    error = np.abs(got[inner] / peak - want[inner]) * 255  # in 8-bit levels
    # libswscale's fast 8-bit path is within ~2.6 levels; a wrong matrix or range is 3-9 levels
    # off on average and up to 30
    assert error.max() < 3.0 and error.mean() < 1.5, (error.max(), error.mean())


def test_untagged_streams_get_what_players_assume() -> None:
    assert Colour().resolved(1280, 720) == Colour(1, 1, 1, 1)  # HD: BT.709, limited
    assert Colour().resolved(720, 576) == Colour(2, 2, 6, 1)  # SD: BT.601 matrix only
    pq = Colour(9, 16, 9, 2)
    assert pq.resolved(640, 360) == pq and pq.hdr == "PQ"
    assert Colour(9, 16, 8, 1).resolved(640, 360).matrix == 6  # YCgCo is not converted


def test_default_pixel_format_follows_depth_and_chroma() -> None:
    x264, x265, svt = (encoder_formats(e) for e in ("libx264", "libx265", "libsvtav1"))
    assert follow_source("hevc", x265, "yuv420p10le", "yuv420p") == "yuv420p10le"
    assert follow_source("av1", svt, "yuv420p10le", "yuv420p") == "yuv420p10le"
    assert follow_source("av1", svt, "yuv422p10le", "yuv420p") == "yuv420p10le"  # no 4:2:2
    assert follow_source("h264", x264, "yuv422p10le", "yuv420p") == "yuv422p10le"
    assert follow_source("hevc", x265, "yuv444p12le", "yuv420p") == "yuv444p12le"
    assert follow_source("h264", x264, "yuv444p12le", "yuv420p") == "yuv444p10le"
    assert follow_source("h264", x264, "yuvj420p", "yuv420p") == "yuv420p"
    assert follow_source("h264", x264, "rgb24", "yuv420p") == "yuv420p"
    assert follow_source("prores", set(), "yuv420p10le", "yuv422p10le") == "yuv422p10le"


def test_a_deep_reader_gives_16_bit_rgb(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "g.mkv", GRADIENT, gradient)
    with Reader(src, deep=True, copy_streams=False) as reader:
        frames = list(reader.frames())
    assert frames[0].rgb.dtype == np.uint16
    assert len(np.unique(frames[0].rgb[0, :, 1])) > 800  # every 10-bit step is still there
    with Reader(src, copy_streams=False) as reader:  # the 8-bit default of other readers
        assert next(reader.frames()).rgb.dtype == np.uint8


@pytest.mark.parametrize("size", ["source", "x2"])
def test_a_10_bit_gradient_keeps_its_levels(tmp_path: Path, size: str) -> None:
    """``source`` is the straight transcode (decoded frames to the encoder), ``x2`` the 16-bit
    RGB path through Lanczos and placement."""
    src = write_clip(tmp_path / "g.mkv", GRADIENT, gradient)
    assert luma_levels(src) > 800
    out = tmp_path / "out.mkv"
    vidx.render(src, out, size=size, codec="hevc", preset="ultrafast", segment_frames=0)
    info = vidx.probe(out)
    assert info.pix_fmt == "yuv420p10le" and info.bit_depth == 10
    assert tags(out) == spec_tags(GRADIENT)
    assert luma_levels(out) > 600


def test_an_8_bit_output_of_it_is_said_and_has_at_most_256_levels(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "g.mkv", GRADIENT, gradient)
    out = tmp_path / "out.mkv"
    result = vidx.render(src, out, size="x2", pix_fmt="yuv420p", preset="ultrafast")
    assert luma_levels(out) <= 256
    assert any("10-bit source is written at 8 bits" in w for w in result.warnings)


@pytest.mark.parametrize("spec", [replace(SD_601, frames=1), replace(HLG, frames=1)])
def test_segmented_jobs_keep_tags_and_depth(tmp_path: Path, spec: ClipSpec) -> None:
    """The default job runs in segments remuxed at the end; their tags survive the remux."""
    src = write_clip(tmp_path / f"in{spec.suffix}", spec)
    out = tmp_path / f"out{spec.suffix}"
    vidx.render(src, out, size="x2", preset="ultrafast")
    assert tags(out) == spec_tags(spec)
    assert vidx.probe(out).bit_depth == spec.bits
    assert len(decode_rgb(out)) == spec.frames


def test_untagged_hd_is_read_and_written_as_bt709(tmp_path: Path) -> None:
    spec = ClipSpec("untagged-hd", 1280, 720, "libx264", 8, 2, 2, 1, range=0, frames=1)
    src = write_clip(tmp_path / "in.mp4", spec)  # BT.709 YUV, no tags (as many files are)
    out = tmp_path / "out.mp4"
    vidx.render(src, out, size="1280x720", upscaler="bicubic", preset="ultrafast")
    assert tags(out) == {"primaries": 1, "trc": 1, "matrix": 1, "range": 1}
    a, b = decode_rgb(src)[0], decode_rgb(out)[0]  # (the ruler also takes BT.709 for HD)
    assert np.abs(a - b).mean() < 1.5 / 255


def test_probe_shows_colour_and_depth(tmp_path: Path, cli) -> None:  # noqa: ANN001
    src = write_clip(tmp_path / "pq.mov", replace(UHD_PQ, width=64, height=64, frames=1))
    info = vidx.probe(src)
    assert (info.color_primaries, info.color_transfer) == ("bt2020", "smpte2084")
    assert (info.color_space, info.color_range, info.bit_depth) == ("bt2020nc", "tv", 10)
    result = cli("probe", src)
    assert result.exit_code == 0, result.output
    assert "(10-bit)" in result.output
    assert "colour: primaries bt2020, transfer smpte2084 (HDR PQ), matrix bt2020nc" in result.output
    full = write_clip(tmp_path / "full.mp4", replace(HD_709_FULL, width=64, height=64, frames=1))
    assert vidx.probe(full).color_range == "pc"


def test_a_restyle_of_a_deep_hdr_source_is_said(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "pq.mov", replace(UHD_PQ, width=64, height=64, frames=1))
    info = vidx.probe(src)
    said = notices(info, Target(tmp_path / "o.mov", JobOptions().with_values(style="3")))
    assert any("HDR (PQ)" in w and "expects SDR" in w for w in said), said
    assert any("restyled at 8 bits" in w for w in said), said
    assert any("browsers and phones" in w for w in said), said  # 10-bit h264 by default
    plain = notices(info, Target(tmp_path / "o.mov", JobOptions().with_values(codec="hevc")))
    assert plain == []  # an upscale keeps HDR and depth: nothing to say


def test_a_matrix_vidx_cannot_convert_is_said(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", replace(SD_601, width=64, height=64, frames=1))
    info = replace(vidx.probe(src), color_space="ycgco")
    said = notices(info, Target(tmp_path / "o.mp4", JobOptions()))
    assert len(said) == 1 and "ycgco matrix is not one vidx converts" in said[0], said
