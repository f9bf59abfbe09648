from __future__ import annotations

import numpy as np
import pytest

from vidx.errors import OptionError
from vidx.values.sizes import parse_size, place, plan_layout


@pytest.mark.parametrize(
    ("text", "canvas"),
    [("1080p", (1920, 1080)), ("4k", (3840, 2160)), ("8K", (7680, 4320)), ("640x360", (640, 360))],
)
@pytest.mark.parametrize("fit", ["contain", "cover", "stretch"])
def test_named_sizes_give_exact_canvas(text: str, canvas: tuple[int, int], fit: str) -> None:
    layout = plan_layout(parse_size(text), (1000, 750), fit)
    assert layout.canvas == canvas


def test_contain_keeps_aspect_inside_canvas() -> None:
    layout = plan_layout(parse_size("4k"), (1000, 750), "contain")
    assert layout.content == (2880, 2160)


def test_cover_fills_canvas() -> None:
    layout = plan_layout(parse_size("4k"), (1000, 750), "cover")
    assert layout.content == (3840, 2880)


def test_scale_and_source_round_odd_sizes_up_to_even() -> None:
    assert plan_layout(parse_size("source"), (95, 63)).canvas == (96, 64)
    assert plan_layout(parse_size("x3"), (95, 63)).canvas == (286, 190)
    assert plan_layout(parse_size("x2"), (95, 63)).content == (190, 126)


@pytest.mark.parametrize("text", ["huge", "4q", "x0", "0x100", "x99", "12"])
def test_bad_sizes_are_option_errors(text: str) -> None:
    with pytest.raises(OptionError, match="^size "):
        parse_size(text)


def test_bad_fit() -> None:
    with pytest.raises(OptionError, match="^fit "):
        plan_layout(parse_size("4k"), (10, 10), "zoom")


def test_place_pads_with_black_and_crops_centre() -> None:
    img = np.full((2, 4, 3), 200, np.uint8)
    padded = place(img, (4, 6))
    assert padded.shape == (6, 4, 3)
    assert padded[0].max() == 0 and padded[2:4].min() == 200
    wide = np.arange(8 * 2 * 3, dtype=np.uint8).reshape(2, 8, 3)
    cropped = place(wide, (4, 2))
    np.testing.assert_array_equal(cropped, wide[:, 2:6])


def test_place_edge_replicates_one_odd_pixel() -> None:
    img = np.random.default_rng(0).integers(0, 255, (3, 5, 3), dtype=np.uint8)
    out = place(img, (6, 4))
    np.testing.assert_array_equal(out[:3, :5], img)
    np.testing.assert_array_equal(out[3, :5], img[2])
    np.testing.assert_array_equal(out[:3, 5], img[:, 4])
