"""Colour-bar and gradient clips with known colour tags, and a decoder that does not use vidx.

The clips are written from YUV made here in numpy with the matrix and range of each clip
(BT.601, BT.709, BT.2020; limited or full), and :func:`decode_rgb` turns any file back into
float RGB the same way, from the file's *own* tags. Neither goes through libswscale or vidx's
conversion, so a wrong matrix, range or tag in vidx shows as a colour difference.
:func:`mean_ciede2000` is skimage's CIEDE2000 with both pictures read as sRGB (for a PQ or
HLG clip that is a difference of code values, not a perceptual HDR difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: AVColorSpace -> (Kr, Kb)
KR_KB = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114), 9: (0.2627, 0.0593)}
BARS = np.array(
    [
        [0.75, 0.75, 0.75],
        [0.75, 0.75, 0.0],
        [0.0, 0.75, 0.75],
        [0.0, 0.75, 0.0],
        [0.75, 0.0, 0.75],
        [0.75, 0.0, 0.0],
        [0.0, 0.0, 0.75],
        [0.0, 0.0, 0.0],
    ]
)


@dataclass(frozen=True)
class ClipSpec:
    """A test clip: size, codec, bit depth and its colour tags (FFmpeg enum numbers)."""

    name: str
    width: int
    height: int
    codec: str  # an encoder name
    bits: int
    primaries: int
    trc: int
    matrix: int
    range: int = 1  # 1 limited (tv), 2 full (pc)
    frames: int = 2
    suffix: str = ".mp4"

    @property
    def pix_fmt(self) -> str:
        return "yuv420p" if self.bits == 8 else f"yuv420p{self.bits}le"


SD_601 = ClipSpec("bt601-sd", 720, 480, "libx264", 8, 6, 6, 6)
HD_709 = ClipSpec("bt709-hd", 1280, 720, "libx264", 8, 1, 1, 1)
HD_709_FULL = ClipSpec("bt709-full", 640, 360, "libx264", 8, 1, 1, 1, range=2)
UHD_PQ = ClipSpec("bt2020-pq-10bit", 1280, 720, "libx265", 10, 9, 16, 9, suffix=".mov")
HLG = ClipSpec("bt2020-hlg-10bit", 640, 360, "libx265", 10, 9, 18, 9, suffix=".mkv")


def colour_bars(width: int, height: int, index: int = 0) -> np.ndarray:
    """``(H, W, 3)`` float RGB in [0, 1]: 75 % bars over the top two thirds, a grey ramp below
    (moved by ``index`` pixels, so frames differ)."""
    rgb = np.empty((height, width, 3))
    cols = np.minimum(np.arange(width) * 8 // width, 7)
    split = height * 2 // 3
    rgb[:split] = BARS[cols][None]
    ramp = ((np.arange(width) + index) % width) / max(1, width - 1)
    rgb[split:] = ramp[None, :, None]
    return rgb


def gradient(width: int, height: int, index: int = 0) -> np.ndarray:
    """A grey ramp from black to white across the width (the same in every frame)."""
    ramp = np.arange(width) / max(1, width - 1)
    return np.repeat(np.repeat(ramp[None, :, None], height, 0), 3, 2)


def _scales(bits: int, full: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma scale, chroma offset, chroma scale) in code values."""
    s = 2 ** (bits - 8)
    if full:
        peak = 2**bits - 1
        return 0.0, peak, 2 ** (bits - 1), peak
    return 16 * s, 219 * s, 128 * s, 224 * s


def rgb_to_yuv420(rgb: np.ndarray, matrix: int, full: bool, bits: int) -> np.ndarray:
    """Float RGB ``(H, W, 3)`` -> the ``(H * 3 / 2, W)`` planar array PyAV takes for yuv420p
    (and its 10/12-bit forms); chroma is the 2x2 mean."""
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = kr * r + kg * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    h, w = y.shape
    cb = cb.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    cr = cr.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    y0, ys, c0, cs = _scales(bits, full)
    peak = 2**bits - 1
    planes = [y0 + ys * y, c0 + cs * cb, c0 + cs * cr]
    kind = np.uint8 if bits == 8 else np.uint16
    flat = [np.clip(np.rint(p), 0, peak).astype(kind).ravel() for p in planes]
    return np.concatenate(flat).reshape(h * 3 // 2, w)


def yuv420_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded 4:2:0 frame -> float RGB from its own matrix and range (chroma repeated 2x2).
    An untagged matrix is BT.709 from 720 lines up, BT.601 below; an untagged range limited."""
    fmt = frame.format
    bits = fmt.components[0].bits
    if frame.format.name not in ("yuv420p", f"yuv420p{bits}le"):
        frame = frame.reformat(format="yuv420p" if bits == 8 else f"yuv420p{bits}le")
    h, w = frame.height, frame.width
    data = frame.to_ndarray().astype(np.float64)
    y = data[:h]
    chroma = data[h:].ravel()
    n = (h // 2) * (w // 2)
    cb = chroma[:n].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1)
    cr = chroma[n:].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1)
    matrix = frame.colorspace if frame.colorspace in KR_KB else (1 if h >= 720 else 6)
    y0, ys, c0, cs = _scales(bits, frame.color_range == 2)
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    yf, cbf, crf = (y - y0) / ys, (cb - c0) / cs, (cr - c0) / cs
    r = yf + 2 * (1 - kr) * crf
    b = yf + 2 * (1 - kb) * cbf
    g = (yf - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=-1), 0, 1)


def write_clip(path: Path, spec: ClipSpec, image=colour_bars, crf: int = 10) -> Path:  # noqa: ANN001
    """Encode ``spec.frames`` frames of ``image(w, h, i)`` with ``spec``'s matrix, range and
    tags."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream(spec.codec, rate=24, options=_encoder_options(spec.codec, crf))
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, spec.pix_fmt
        vs.time_base = vs.codec_context.time_base = Fraction(1, 24)
        ctx = vs.codec_context
        ctx.color_primaries, ctx.color_trc = spec.primaries, spec.trc
        ctx.colorspace, ctx.color_range = spec.matrix, spec.range
        for i in range(spec.frames):
            yuv = rgb_to_yuv420(
                image(spec.width, spec.height, i), spec.matrix, spec.range == 2, spec.bits
            )
            frame = av.VideoFrame.from_ndarray(yuv, spec.pix_fmt)
            frame.colorspace, frame.color_range = spec.matrix, spec.range
            frame.color_primaries, frame.color_trc = spec.primaries, spec.trc
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return path


def _encoder_options(encoder: str, crf: int) -> dict[str, str]:
    if encoder == "libx265":
        # no B-frames: libx265 gives a clip shorter than its B-frame delay a junk dts
        return {"crf": str(crf), "preset": "fast", "x265-params": "log-level=error:bframes=0"}
    return {"crf": str(crf), "preset": "fast"}


def decode_rgb(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Every frame of ``path`` as float RGB, each from its own tags (see :func:`yuv420_to_rgb`)."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(yuv420_to_rgb(frame))
            if limit is not None and len(out) >= limit:
                break
    return out


def tags(path: Path) -> dict[str, int]:
    """The video stream's colour tags as FFmpeg reads them from the file."""
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return {
            "primaries": int(ctx.color_primaries),
            "trc": int(ctx.color_trc),
            "matrix": int(ctx.colorspace),
            "range": int(ctx.color_range),
        }


def spec_tags(spec: ClipSpec) -> dict[str, int]:
    return {
        "primaries": spec.primaries,
        "trc": spec.trc,
        "matrix": spec.matrix,
        "range": spec.range,
    }


def mean_ciede2000(a: np.ndarray, b: np.ndarray, step: int = 1) -> float:
    """Mean CIEDE2000 of two float RGB pictures read as sRGB (every ``step``-th pixel)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    a, b = a[::step, ::step], b[::step, ::step]
    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def luma_levels(path: Path) -> int:
    """Distinct luma code values over all frames of ``path``."""
    seen: set[int] = set()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.to_ndarray()[: frame.height]
            seen.update(np.unique(plane).tolist())
    return len(seen)
