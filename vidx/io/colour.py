"""What a video's YUV means, and converting it to RGB and back with the source's own matrix.

A stream's colour is four FFmpeg tags: primaries, transfer (trc), matrix (FFmpeg's
``colorspace``) and range. Decoding uses the source's matrix and range (BT.601, BT.709,
BT.2020; limited or full), encoding uses the matrix and range the output is tagged with, so a
plain transcode keeps its colours. Sources deeper than 8 bits are converted to 16-bit RGB
(``rgb48``) and quantised once, by the encoder's conversion at the end. Transfer and primaries
are never converted here: HDR (PQ, HLG) code values pass through with their tags.

An untagged matrix is taken as BT.709 from 1280x720 up and BT.601 below (what players
assume); an untagged range as limited. The output is tagged with what was used.

Convention: values are FFmpeg's enum numbers (``AVColorPrimaries``,
``AVColorTransferCharacteristic``, ``AVColorSpace``, ``AVColorRange``); 2 means unspecified
for the first three, 0 for the range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import av
import numpy as np
from av.video.reformatter import Colorspace, Interpolation, VideoReformatter

PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
MATRICES = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}
RANGES = {1: "tv", 2: "pc"}
#: AVColorSpace -> the libswscale matrix that converts it (BT.2020 CL approximated by NCL)
SWS_MATRIX = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}
BT709, BT601, LIMITED, FULL, UNSPECIFIED = 1, 6, 1, 2, 2
#: RGB -> full-range YUV with libswscale's default (fast) rounding shifts neutral chroma by one
#: level (128 -> 127: a tint of 1.1 CIEDE2000 on a grey ramp); accurate rounding costs ~1.5x
#: on that conversion, so it is used for full-range output only
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
HDR_TRANSFERS = {16: "PQ", 18: "HLG"}


@dataclass(frozen=True)
class Colour:
    """A stream's or frame's colour tags (FFmpeg enum numbers; see the module doc)."""

    primaries: int = UNSPECIFIED
    trc: int = UNSPECIFIED
    matrix: int = UNSPECIFIED
    range: int = 0

    @classmethod
    def of(cls, obj: Any) -> Colour:
        """The tags of an ``av.VideoFrame`` or a video codec context, as they are."""
        return cls(
            int(obj.color_primaries or UNSPECIFIED),
            int(obj.color_trc or UNSPECIFIED),
            int(obj.colorspace if obj.colorspace is not None else UNSPECIFIED),
            int(obj.color_range or 0),
        )

    @property
    def hdr(self) -> str | None:
        """``PQ`` or ``HLG`` for an HDR transfer, else None."""
        return HDR_TRANSFERS.get(self.trc)

    def names(self) -> dict[str, str | None]:
        """ffprobe's words for the tags (None where untagged)."""
        return {
            "color_primaries": PRIMARIES.get(self.primaries),
            "color_transfer": TRANSFERS.get(self.trc),
            "color_space": MATRICES.get(self.matrix),
            "color_range": RANGES.get(self.range),
        }

    def resolved(self, width: int, height: int) -> Colour:
        """These tags with the matrix and range a decoder assumes where they are missing or
        not a YUV matrix vidx converts: BT.709 from 1280x720 up, BT.601 below; limited range.
        Untagged primaries and transfer become BT.709 only where the matrix is BT.709."""
        matrix = self.matrix if self.matrix in SWS_MATRIX else assumed_matrix(width, height)
        out = replace(self, matrix=matrix, range=self.range if self.range in RANGES else LIMITED)
        if matrix == BT709:
            if out.primaries == UNSPECIFIED:
                out = replace(out, primaries=BT709)
            if out.trc == UNSPECIFIED:
                out = replace(out, trc=BT709)
        return out

    def apply(self, ctx: Any) -> None:
        """Tag a codec context (or frame) with these values."""
        ctx.color_primaries = self.primaries
        ctx.color_trc = self.trc
        ctx.colorspace = self.matrix
        ctx.color_range = self.range


def summary(info: Any) -> str:
    """One line for ``vidx probe`` from a VideoInfo's colour fields: ``primaries bt2020,
    transfer smpte2084 (HDR PQ), matrix bt2020nc, range tv``; untagged ones say so."""
    trc = info.color_transfer
    hdr = {"smpte2084": " (HDR PQ)", "arib-std-b67": " (HDR HLG)"}.get(trc or "", "")
    parts = [
        f"primaries {info.color_primaries or 'untagged'}",
        f"transfer {trc or 'untagged'}{hdr}",
        f"matrix {info.color_space or 'untagged'}",
        f"range {info.color_range or 'untagged'}",
    ]
    return ", ".join(parts)


def assumed_matrix(width: int, height: int) -> int:
    """The matrix of an untagged stream: BT.709 for HD (1280 wide or 720 high), else BT.601."""
    return BT709 if width >= 1280 or height >= 720 else BT601


def sws_matrix(matrix: int) -> Colorspace:
    """libswscale's matrix for an AVColorSpace (BT.601 for one it cannot convert)."""
    return SWS_MATRIX.get(matrix, Colorspace.ITU601)


def is_deep(fmt: av.VideoFormat | None) -> bool:
    """More than 8 bits per sample."""
    return fmt is not None and max((c.bits for c in fmt.components), default=8) > 8


def to_rgb(
    frame: av.VideoFrame,
    fallback: Colour | None = None,
    *,
    deep: bool = False,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """Decoded frame -> ``(H, W, 3)`` RGB: uint8, or uint16 (full 16-bit scale) when ``deep``
    and the frame has more than 8 bits. The frame's own matrix and range are used; where it
    has none, ``fallback``'s (default: :meth:`Colour.resolved` for the frame's size)."""
    matrix, rng = frame.colorspace, frame.color_range
    if matrix not in SWS_MATRIX or rng not in RANGES:
        fallback = fallback or Colour().resolved(frame.width, frame.height)
        matrix = matrix if matrix in SWS_MATRIX else fallback.matrix
        rng = rng if rng in RANGES else fallback.range
    r = reformatter or VideoReformatter()
    if deep and frame.format.name in FLOAT_FORMATS:
        return float_to_16(r.reformat(frame, format="gbrpf32le").to_ndarray())
    fmt = "rgb48le" if deep and is_deep(frame.format) else "rgb24"
    out = r.reformat(frame, format=fmt, src_colorspace=sws_matrix(matrix), src_color_range=rng)
    rgb: np.ndarray = out.to_ndarray()
    return rgb


# float pictures (EXR): converted in numpy, where swscale's float path is off by up to 33/65535
FLOAT_FORMATS = ("gbrpf32le", "gbrpf16le", "gbrapf32le", "gbrapf16le", "grayf32le")


def float_to_16(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] -> uint16 (clipped, NaN as 0, rounded)."""
    return (np.clip(np.nan_to_num(rgb), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)


def from_rgb(
    rgb: np.ndarray,
    pix_fmt: str,
    colour: Colour,
    reformatter: VideoReformatter | None = None,
) -> av.VideoFrame:
    """``(H, W, 3)`` uint8 or uint16 RGB -> a frame in ``pix_fmt`` with ``colour``'s matrix
    and range (the one quantisation of a 16-bit picture), tagged with ``colour``."""
    src = "rgb48le" if rgb.dtype == np.uint16 else "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), src)
    r = reformatter or VideoReformatter()
    out = r.reformat(
        frame,
        format=pix_fmt,
        dst_colorspace=sws_matrix(colour.matrix),
        dst_color_range=colour.range,
        interpolation=encode_flags(colour),
    )
    colour.apply(out)
    return out


def encode_flags(colour: Colour) -> Interpolation | None:
    """libswscale flags for RGB -> YUV in ``colour`` (None: the default, see ACCURATE)."""
    return ACCURATE if colour.range == FULL else None


def to_16(rgb: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 at full scale (``v * 257``); uint16 as it is."""
    return rgb if rgb.dtype == np.uint16 else rgb.astype(np.uint16) * 257


def chroma(fmt: av.VideoFormat) -> str:
    """``420``, ``422``, ``444`` (or ``400`` for gray) of a YUV pixel format."""
    probe = av.VideoFormat(fmt.name, 16, 16)
    if len(probe.components) < 3:
        return "400"
    c = probe.components[1]
    if c.width == 16:
        return "444" if c.height == 16 else "440"
    return "422" if c.height == 16 else "420"


def follow_source(codec: str, encoder_formats: set[str], source: str | None, default: str) -> str:
    """The pixel format that keeps the source's depth and chroma for an h264/hevc/av1
    encoder that offers ``encoder_formats``: ``yuv420p10le`` for a 10-bit 4:2:0 source, the
    depth kept with 4:2:0 chroma where the encoder lacks the source's, ``default`` for other
    codecs (ProRes and DNxHR profiles fix their own), RGB sources and unknown formats."""
    if source is None or codec not in ("h264", "hevc", "av1"):
        return default
    try:
        fmt = av.VideoFormat(source)
    except ValueError:
        return default
    if fmt.name.startswith(("rgb", "bgr", "gbr", "pal", "gray", "ya", "mono")):
        if not is_deep(fmt):
            return default
        subsampling = "420"
    else:
        subsampling = chroma(fmt) if chroma(fmt) in ("420", "422", "444") else "420"
    bits = max(c.bits for c in fmt.components)
    depths = [""] if bits <= 8 else (["12le", "10le"] if bits >= 12 else ["10le"])
    for depth in depths:
        for sub in dict.fromkeys((subsampling, "420")):
            name = f"yuv{sub}p{depth}"
            if name in encoder_formats:
                return name
    return default
