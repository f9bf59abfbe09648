"""Still pictures: full-depth read/write, one-picture restyle + upscale, a picture as a clip."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidx.api import render
from vidx.errors import InputError, OptionError, OutputError
from vidx.frame import Frame
from vidx.io.images import (
    StillReader,
    is_image_path,
    read_image,
    still_info,
    to_uint8,
    write_image,
)
from vidx.jobs.stills import process_still
from vidx.upscale.classic import ClassicUpscaler
from vidx.values.sizes import parse_size


def picture(
    w: int = 64, h: int = 36, dtype: type = np.uint8, seed: int = 0, noise: bool = True
) -> np.ndarray:
    """A gradient, plus grain unless ``noise`` is False."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=-1) * top
    grain = rng.integers(0, top // 8, size=(h, w, 3)) if noise else 0
    return np.clip(base * 0.8 + grain, 0, top).astype(dtype)


def test_is_image_path() -> None:
    assert is_image_path("a/b.PNG") and is_image_path("x.tiff") and is_image_path("x.jpeg")
    assert not is_image_path("clip.mp4") and not is_image_path("noext")


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_exact(tmp_path: Path, ext: str, dtype: type) -> None:
    rgb = picture(dtype=dtype)
    path = write_image(tmp_path / f"p{ext}", rgb)
    back = read_image(path)
    assert back.dtype == dtype and back.shape == rgb.shape
    np.testing.assert_array_equal(back, rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"p{ext}"]  # no temp file left


def test_uint16_to_jpeg_and_webp_is_8_bit(tmp_path: Path) -> None:
    rgb = picture(dtype=np.uint16, noise=False)
    for ext in (".jpg", ".webp"):
        back = read_image(write_image(tmp_path / f"p{ext}", rgb))
        assert back.dtype == np.uint8 and back.shape == rgb.shape
        assert np.abs(back.astype(int) - to_uint8(rgb).astype(int)).mean() < 2


def test_read_gray_alpha_and_exif(tmp_path: Path) -> None:
    from PIL import Image

    gray = picture()[:, :, 0]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    g = read_image(tmp_path / "g.png")
    assert g.shape == (36, 64, 3)
    np.testing.assert_array_equal(g[:, :, 0], gray)
    np.testing.assert_array_equal(g[:, :, 2], gray)

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:4, :, 3] = 255  # top half opaque, bottom half transparent
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    a = read_image(tmp_path / "a.png")
    assert a.shape == (8, 8, 3)
    assert (a[:4] == 200).all() and (a[4:] == 0).all()

    src = picture(32, 16)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise
    Image.fromarray(src).save(tmp_path / "r.jpg", exif=exif, quality=98)
    r = read_image(tmp_path / "r.jpg")
    assert r.shape == (32, 16, 3)
    with Image.open(tmp_path / "r.jpg") as im:
        from PIL import ImageOps

        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(r, expected)


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="not a readable image"):
        read_image(bad)
    with pytest.raises(OptionError, match="extension"):
        write_image(tmp_path / "x.gif", picture())


def test_process_still_x2_and_8k(tmp_path: Path) -> None:
    src = write_image(tmp_path / "in.png", picture())
    out = tmp_path / "x2.png"
    info = process_still(
        src, out, restyler=None, upscaler=ClassicUpscaler("lanczos"), size=parse_size("x2")
    )
    assert read_image(out).shape == (72, 128, 3)
    side = json.loads((tmp_path / "x2.png.json").read_text())
    assert side["size"]["canvas"] == [128, 72] and side["upscale"]["name"] == "lanczos"
    assert set(side["timings_s"]) >= {"read", "upscale", "write", "total"}
    assert info["frames"] == 1

    out8k = tmp_path / "big.jpg"
    process_still(
        src, out8k, restyler=None, upscaler=ClassicUpscaler("lanczos"), size=parse_size("8k")
    )
    big = read_image(out8k)
    assert big.shape == (4320, 7680, 3)


def test_process_still_16_bit_kept_exactly(tmp_path: Path) -> None:
    rgb = picture(dtype=np.uint16)
    src = write_image(tmp_path / "in.tif", rgb)
    for name in ("out.png", "out.tif"):
        process_still(
            src,
            tmp_path / name,
            restyler=None,
            upscaler=ClassicUpscaler("lanczos"),
            size=parse_size("source"),
        )
        np.testing.assert_array_equal(read_image(tmp_path / name), rgb)
    side = json.loads((tmp_path / "out.png.json").read_text())
    assert side["input"]["bit_depth"] == 16 and side["output_bit_depth"] == 16
    assert side["warnings"] == []

    process_still(
        src, tmp_path / "o.jpg", restyler=None, upscaler=ClassicUpscaler(), size=parse_size("x2")
    )
    jpg = read_image(tmp_path / "o.jpg")
    assert jpg.dtype == np.uint8 and jpg.shape == (72, 128, 3)


def test_process_still_with_style_restyler(tmp_path: Path) -> None:
    from vidx.restyle.style import StyleRestyler

    rgb = picture(dtype=np.uint16)
    src = write_image(tmp_path / "in.png", rgb)
    out = tmp_path / "styled.png"
    side = process_still(
        src,
        out,
        restyler=StyleRestyler("3"),
        upscaler=ClassicUpscaler("lanczos"),
        size=parse_size("x2"),
    )
    styled = read_image(out)
    assert styled.dtype == np.uint8 and styled.shape == (72, 128, 3)
    plain = cv2.resize(to_uint8(rgb), (128, 72), interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(styled.astype(int) - plain.astype(int)).mean() > 10  # really restyled
    assert side["restyle"]["style"] == "3"
    assert any("8 bits" in w for w in side["warnings"])


def test_still_jobs_refuse_before_any_work(tmp_path: Path) -> None:
    src = write_image(tmp_path / "in.png", picture())
    with pytest.raises(OutputError, match="is the input"):
        render(src, src, size="x2")
    out = write_image(tmp_path / "out.png", picture(seed=1))
    before = out.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        render(src, out, size="x2")
    assert out.read_bytes() == before
    render(src, out, size="x2", overwrite=True)
    assert read_image(out).shape == (72, 128, 3)
    with pytest.raises(InputError, match="does not exist"):
        render(tmp_path / "nope.png", tmp_path / "o2.png", size="x2")
    with pytest.raises(OutputError, match="does not exist"):
        render(src, tmp_path / "sub" / "o.png", size="x2")
    with pytest.raises(OptionError, match="fit"):
        render(src, tmp_path / "o3.png", size="x2", fit="x")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["in.png", "out.png", "out.png.json"]


def test_still_reader(tmp_path: Path) -> None:
    rgb = picture(dtype=np.uint16)
    src = write_image(tmp_path / "in.png", rgb)
    with StillReader(src, frames=3, rate=Fraction(30000, 1001)) as reader:
        items = list(reader)
        assert reader.copied == [] and reader.warnings == []
        assert reader.video.average_rate == Fraction(30000, 1001)
        assert dict(reader.container.metadata) == {}
    assert [f.pts for f in items] == [0, 1, 2] and [f.index for f in items] == [0, 1, 2]
    assert all(isinstance(f, Frame) and f.time_base == reader.time_base for f in items)
    assert items[0].rgb.dtype == np.uint8 and items[0].rgb.shape == (36, 64, 3)
    np.testing.assert_array_equal(items[0].rgb, to_uint8(rgb))
    info = still_info(src, frames=3)
    assert (info.width, info.height, info.frames, info.bit_depth) == (64, 36, 3, 16)
    with pytest.raises(InputError):
        StillReader(tmp_path / "missing.png")


def test_still_reader_feeds_the_video_writer(tmp_path: Path) -> None:
    """The attributes pipeline.run reads from a Reader (video rate, time_base, copied,
    container.metadata) are enough to write a one-frame clip from a StillReader."""
    import av

    from vidx.io.writer import EncodeSettings, VideoTarget, Writer

    src = write_image(tmp_path / "in.png", picture())
    with StillReader(src) as reader:
        rate = reader.video.average_rate or reader.video.guessed_rate
        meta = dict(reader.container.metadata)
        target = VideoTarget(128, 72, reader.time_base, rate, meta)
        writer = Writer(tmp_path / "one.mp4", EncodeSettings(), target, reader.copied)
        for frame in reader.frames():
            writer.put_frame(ClassicUpscaler()(frame.rgb, (128, 72)), frame.pts)
        writer.finish()
    with av.open(str(tmp_path / "one.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 1 and frames[0].shape == (72, 128, 3)
