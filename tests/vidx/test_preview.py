"""Preview sheets: only the shown frames are decoded, one row per varied value."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import make_clip
from vidx.api import preview
from vidx.errors import OptionError, OutputError
from vidx.io.images import read_image
from vidx.jobs.preview import (
    HEADER_HEIGHT,
    LABEL_WIDTH,
    grab_frames,
    make_sheet,
    pick_frame_times,
    run_preview,
)
from vidx.options import RestyleOptions
from vidx.upscale.classic import resize


def test_pick_frame_times() -> None:
    assert pick_frame_times(2.0, 3, 0.5) == [0.0, 0.75, 1.5]
    assert pick_frame_times(2.0, 1) == [1.0]
    assert pick_frame_times(0.0, 2) == [0.0, 0.0]
    with pytest.raises(OptionError, match="frames"):
        pick_frame_times(1.0, 0)


def test_grab_frames_matches_full_decode(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "in.mp4", frames=24, size=(96, 64))
    with av.open(str(path)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    grabbed = grab_frames(path, 3)
    assert [round(t * 24) for t, _ in grabbed] == [0, 12, 23]  # first, middle, last frame
    for t, rgb in grabbed:
        np.testing.assert_array_equal(rgb, every[round(t * 24)])


def test_make_sheet_layout() -> None:
    a = np.full((32, 64, 3), 10, np.uint8)
    b = np.full((16, 32, 3), 200, np.uint8)  # another size: resized to the cell
    sheet = make_sheet([("source", [a, a]), ("strength 0.5", [b, b])], ["t=0", "t=1"], 100)
    assert sheet.shape == (HEADER_HEIGHT + 2 * 50, LABEL_WIDTH + 2 * 100, 3)
    assert (sheet[HEADER_HEIGHT : HEADER_HEIGHT + 50, LABEL_WIDTH:] == 10).all()
    assert (sheet[HEADER_HEIGHT + 50 :, LABEL_WIDTH:] == 200).all()
    labels = sheet[HEADER_HEIGHT:, :LABEL_WIDTH]
    assert labels.max() == 255 and labels.min() < 40  # white text on a dark strip
    assert sheet[:HEADER_HEIGHT, LABEL_WIDTH:].max() == 255


def test_run_preview_style_strengths(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "in.mp4", frames=24, size=(96, 64))
    out = tmp_path / "sheet.png"
    strengths = [0.25, 0.5, 1.0]
    info = run_preview(
        path, out, RestyleOptions(style="3"), {"strength": strengths}, frames=3, cell_width=64
    )
    sheet = read_image(out)
    cell_h = round(64 * 64 / 96)
    assert sheet.shape == (HEADER_HEIGHT + 4 * cell_h, LABEL_WIDTH + 3 * 64, 3)
    assert info["rows"] == ["source", "strength 0.25", "strength 0.5", "strength 1.0"]
    assert info["sheet_size"] == [sheet.shape[1], sheet.shape[0]]
    grabbed = grab_frames(path, 3)
    cells = [
        [
            sheet[HEADER_HEIGHT + r * cell_h : HEADER_HEIGHT + (r + 1) * cell_h][
                :, LABEL_WIDTH + c * 64 : LABEL_WIDTH + (c + 1) * 64
            ]
            for c in range(3)
        ]
        for r in range(4)
    ]
    for c, (_, rgb) in enumerate(grabbed):
        np.testing.assert_array_equal(cells[0][c], resize(rgb, (64, cell_h)))
    rows = [np.stack(r).astype(float) for r in cells]
    gaps = [np.abs(rows[i + 1] - rows[i]).mean() for i in range(3)]
    assert all(g > 1.0 for g in gaps)  # every strength gives a different picture
    assert np.abs(rows[3] - rows[0]).mean() > np.abs(rows[1] - rows[0]).mean()


def test_run_preview_styles_and_single_values(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 48))
    info = run_preview(
        path,
        tmp_path / "s.jpg",
        RestyleOptions(),
        {"style": ["1", "7"], "strength": [0.8], "seed": [3]},
        frames=2,
        cell_width=48,
    )
    assert info["rows"] == ["source", "style 1", "style 7"]
    assert [r["strength"] for r in info["restyle"]] == [0.8, 0.8]
    assert read_image(tmp_path / "s.jpg").shape == (HEADER_HEIGHT + 3 * 36, LABEL_WIDTH + 96, 3)


def test_preview_rejects_before_any_work(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 48))
    out = tmp_path / "sheet.png"
    with pytest.raises(OptionError, match="both list several values"):
        preview(path, out, vary={"strength": [0.2, 0.4], "style": ["1", "2"]}, style="3")
    with pytest.raises(OptionError, match="strength must be a finite number in"):
        preview(path, out, vary={"strength": [0.5, 1.5]}, style="3")
    with pytest.raises(OptionError, match="cannot vary in a preview"):
        preview(path, out, vary={"steps": [10, 20]}, style="3")
    with pytest.raises(OptionError, match="at least one value"):
        preview(path, out, vary={"seed": []}, style="3")
    with pytest.raises(OptionError, match="frames"):
        preview(path, out, vary={"strength": [0.5]}, frames=0, style="3")
    with pytest.raises(OptionError, match="picture"):
        preview(path, tmp_path / "sheet.mp4", vary={"strength": [0.5]}, style="3")
    out.write_bytes(b"keep")
    with pytest.raises(OutputError, match="already exists"):
        preview(path, out, vary={"strength": [0.5]}, style="3")
    assert out.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "sheet.png"]


def test_preview_rows_keep_the_box_as_the_source(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    path = make_clip(tmp_path / "in.mp4", frames=6, size=(96, 64))
    out = tmp_path / "sheet.png"
    args = ("--style", "3", "--style", "7", "--keep", "30,20,24,16", "--mask-feather", "2")
    result = run_cli("preview", path, "-o", out, *args, "--frames", "2", "--cell-width", "96")
    assert result.exit_code == 0, result.output
    sheet = read_image(out).astype(int)

    def cell(r: int, c: int) -> np.ndarray:  # cells are 96x64: the frames at their own size
        y, x = HEADER_HEIGHT + r * 64, LABEL_WIDTH + c * 96
        return sheet[y : y + 64, x : x + 96]

    for c in range(2):
        for r in (1, 2):
            box = np.abs(cell(r, c)[22:34, 32:52] - cell(0, c)[22:34, 32:52]).mean()
            assert box < 1.0 and np.abs(cell(r, c)[:, :20] - cell(0, c)[:, :20]).mean() > 8
