"""The embedded style backend, per frame: styles, blends, strength, style images, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from vidx.errors import InputError, OptionError
from vidx.frame import FrameContext
from vidx.restyle.style import StyleRestyler, work_size
from vidx.restyle.style_catalog import NUM_STYLES, list_styles, parse_style, style_index


def photo(h: int = 96, w: int = 128) -> np.ndarray:
    return cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)


def key(image: np.ndarray, index: int = 0) -> FrameContext:
    return FrameContext(index, image, keyframe=True)


def test_builtin_style_shape_dtype_and_styles_differ():
    img = photo()
    out0 = StyleRestyler("0")(img, key(img))
    out5 = StyleRestyler("5")(img, key(img))
    assert out0.shape == img.shape and out0.dtype == np.uint8
    assert np.abs(out0.astype(int) - out5.astype(int)).mean() > 10
    assert np.abs(out0.astype(int) - img.astype(int)).mean() > 10


def test_blend_differs_from_each_part():
    img = photo()
    a = StyleRestyler("3")(img, key(img)).astype(int)
    b = StyleRestyler("12")(img, key(img)).astype(int)
    ab = StyleRestyler("3:0.5,12:0.5")(img, key(img)).astype(int)
    assert np.abs(ab - a).mean() > 3 and np.abs(ab - b).mean() > 3


def test_strength_zero_is_source_and_half_is_between():
    img = photo()
    assert np.array_equal(StyleRestyler("7", strength=0.0)(img, key(img)), img)
    full = StyleRestyler("7")(img, key(img)).astype(float)
    half = StyleRestyler("7", strength=0.5)(img, key(img)).astype(float)
    assert np.abs(half - (img + full) / 2).max() <= 1.0


def test_parse_style_normalises():
    w = parse_style("3:1,12:3")
    assert w.shape == (26,) and w[3] == pytest.approx(0.25) and w[12] == pytest.approx(0.75)
    assert parse_style(25)[25] == 1.0


def test_styles_have_unique_names_and_parse_by_name():
    styles = list_styles()
    assert [s.index for s in styles] == list(range(NUM_STYLES))
    names = [s.name for s in styles]
    assert len(set(names)) == NUM_STYLES and all(n and n == n.strip().lower() for n in names)
    assert all(":" not in n and "," not in n and not n.isdigit() for n in names)
    for s in styles:
        assert style_index(s.name) == s.index and s.description
        assert np.array_equal(parse_style(s.name.upper()), parse_style(str(s.index)))
    blend = parse_style(f"{styles[3].name}:0.5, 12:0.5")
    assert blend[3] == pytest.approx(0.5) and blend[12] == pytest.approx(0.5)


def test_misspelt_name_suggests_one():
    with pytest.raises(OptionError, match="did you mean blue-swirl"):
        parse_style("blue-swirll")


@pytest.mark.parametrize(
    "spec", ["26", "-1", "abc", "3:x", "", "3:0", "3:-1", "3:nan", "1.5", "ember:x"]
)
def test_bad_style_spec_names_the_option(spec):
    with pytest.raises(OptionError, match="^style ") as err:
        StyleRestyler(spec)
    assert repr(spec) in str(err.value)
    assert err.value.param == "style" and err.value.named("--style").startswith("--style must")


def test_bad_numbers_raise_option_errors():
    with pytest.raises(OptionError, match="^strength "):
        StyleRestyler("0", strength=1.5)
    with pytest.raises(OptionError, match="^temporal_weight "):
        StyleRestyler("0", temporal_weight=-0.1)
    with pytest.raises(OptionError, match="^device "):
        StyleRestyler("0", device="tpu")
    with pytest.raises(OptionError, match="^style "):
        StyleRestyler(None)


def test_style_image(tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(path)
    img = photo()
    restyler = StyleRestyler(style_image=path)
    out = restyler(img, key(img))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img.astype(int)).mean() > 5
    other = tmp_path / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(other)
    assert not np.array_equal(StyleRestyler(style_image=other)(img, key(img)), out)
    assert restyler.describe()["style_image"] == str(path)


def test_style_image_errors(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(OptionError, match="^style_image ") as err:
        StyleRestyler(style_image=missing)
    assert str(missing) in str(err.value)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(OptionError, match="^style_image "):
        StyleRestyler(style_image=junk)


def test_max_side_and_bad_frames():
    img = photo(96, 128)
    out = StyleRestyler("1", max_side=64)(img, key(img))
    assert out.shape == (48, 64, 3)
    assert work_size(1080, 1920, 1024) == (576, 1024)
    with pytest.raises(InputError):
        StyleRestyler("1")(img.astype(np.float32), key(img))
    with pytest.raises(InputError):
        StyleRestyler("1")(img[:16, :16], key(img))


def test_describe_and_reset():
    r = StyleRestyler("3:0.5,12:0.5", strength=0.7, temporal_weight=0.6)
    d = r.describe()
    assert d["name"] == "style" and d["style"] == "3:0.5,12:0.5" and d["strength"] == 0.7
    assert d["temporal"] is True and d["temporal_weight"] == 0.6 and d["device"] in ("cpu", "cuda")
    r.reset()
