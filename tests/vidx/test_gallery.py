"""The style gallery: one frame in all 26 built-in styles on one labelled sheet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import make_clip, pattern
from vidx.errors import InputError, OptionError, OutputError
from vidx.io.images import read_image
from vidx.jobs.gallery import COLUMNS, gallery_frame, make_gallery, style_gallery
from vidx.restyle.style_catalog import NUM_STYLES


def test_gallery_of_a_clip_has_a_cell_per_style(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, size=(96, 64))
    out = tmp_path / "gallery.png"
    calls: list[tuple[int, int]] = []
    written = style_gallery(clip, out, cell_width=48, progress=lambda d, t: calls.append((d, t)))
    assert written == out and out.is_file()
    assert calls[-1] == (NUM_STYLES, NUM_STYLES) and len(calls) == NUM_STYLES
    sheet = read_image(out)
    cell_h, label_h = 32, 14  # 48 px cells of a 96x64 frame, the smallest label strip
    rows = -(-(NUM_STYLES + 1) // COLUMNS)
    assert sheet.shape == (rows * (cell_h + label_h), COLUMNS * 48, 3)
    # cells differ from one another: the source and each style are different pictures
    cells = [
        sheet[r * (cell_h + label_h) : r * (cell_h + label_h) + cell_h, c * 48 : (c + 1) * 48]
        for r in range(rows)
        for c in range(COLUMNS)
    ][: NUM_STYLES + 1]
    assert all(np.abs(a.astype(int) - cells[0]).mean() > 5 for a in cells[1:])
    assert not list(tmp_path.glob(".*part*"))  # no temp file left behind


def test_frame_at_a_time_and_of_a_picture(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, size=(96, 64))
    late = gallery_frame(clip, time=10 / 24)
    assert late.shape == (64, 96, 3)
    assert (
        np.abs(late.astype(int) - pattern(10, 96, 64)).mean()
        < np.abs(late.astype(int) - pattern(0, 96, 64)).mean()
    )
    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), pattern(3, 96, 64)[:, :, ::-1])
    assert np.array_equal(gallery_frame(picture), pattern(3, 96, 64))
    with pytest.raises(OptionError, match="^time must be less than the clip's 0.50 s"):
        gallery_frame(clip, time=60.0)
    with pytest.raises(OptionError, match="^time "):
        gallery_frame(clip, time=-1.0)


def test_refuses_input_existing_output_and_bad_options(tmp_path: Path) -> None:
    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), pattern(0, 96, 64))
    before = picture.read_bytes()
    with pytest.raises(OutputError, match="input"):
        style_gallery(picture, picture, overwrite=True)
    assert picture.read_bytes() == before
    out = tmp_path / "sheet.png"
    out.write_bytes(b"keep")
    with pytest.raises(OutputError, match="--overwrite"):
        style_gallery(picture, out)
    assert out.read_bytes() == b"keep"
    with pytest.raises(OptionError, match="^cell_width "):
        style_gallery(picture, tmp_path / "a.png", cell_width=8)
    with pytest.raises(OptionError, match="png"):
        style_gallery(picture, tmp_path / "a.mp4")
    with pytest.raises(InputError):
        style_gallery(tmp_path / "missing.mp4", tmp_path / "a.png")
    style_gallery(picture, out, cell_width=32, overwrite=True)
    assert read_image(out).shape[1] == COLUMNS * 32


def test_make_gallery_layout() -> None:
    tiles = [(f"{i} name", np.full((20, 40, 3), i * 9, np.uint8)) for i in range(9)]
    sheet = make_gallery(tiles, cell_width=40)
    assert sheet.shape == (2 * (20 + 14), COLUMNS * 40, 3)
    assert (sheet[:20, 40:80] == 9).all()  # second cell, first row
