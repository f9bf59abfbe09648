"""The input's tracks besides its video: which are copied, which carried as a timecode, which
dropped (each with a one-line warning), and SMPTE timecode arithmetic.

Convention: a timecode track (QuickTime ``tmcd``; Matroska has none, it keeps a ``TIMECODE``
tag) is not copied packet for packet: its start is read as ``HH:MM:SS:FF`` (``;`` before the
frames for drop-frame), moved by the trim start at the video's frame rate, and written as the
output's ``timecode`` (the mov/mp4 muxers make a ``tmcd`` track of it, Matroska a tag).
A reel name (kept by QuickTime with its ``tmcd`` track) goes with the timecode.
Audio is copied or the job is refused; subtitles, data tracks and attachments the output's
container cannot hold are dropped with a warning.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from vidx.errors import OptionError

PACKET_TYPES = ("audio", "subtitle", "data")
ATTACHMENT_FORMATS = ("matroska",)  # containers that hold attachments (fonts, cover files)
TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def is_timecode_track(stream: Any) -> bool:
    """A data track that only holds a start timecode (QuickTime ``tmcd``)."""
    if stream.type != "data":
        return False
    meta = stream.metadata
    return "timecode" in meta or "TimeCode" in meta.get("handler_name", "")


def codec_name(stream: Any) -> str:
    """What a stream holds: its codec, ``tmcd``, an attachment's mime type, or ``unknown``."""
    if is_timecode_track(stream):
        return "tmcd"
    if stream.type == "attachment":
        return getattr(stream, "mimetype", None) or "attachment"
    ctx = stream.codec_context
    if ctx is not None:
        return str(ctx.name)
    return str(getattr(stream, "name", None) or "unknown")


def source_timecode(container: Any) -> str | None:
    """The input's start timecode: from a ``tmcd`` track, the video stream or the file's tags."""
    places = [s.metadata for s in container.streams if is_timecode_track(s)]
    places += [s.metadata for s in container.streams.video[:1]]
    places.append(container.metadata)
    for meta in places:
        for key in ("timecode", "TIMECODE"):
            value = meta.get(key)
            if value and TIMECODE.match(value.strip()):
                return value.strip()
    return None


def source_reel(container: Any) -> str | None:
    """The input's reel name (QuickTime keeps it with the ``tmcd`` track), or None."""
    for s in container.streams:
        if is_timecode_track(s) and (s.metadata.get("reel_name") or "").strip():
            return str(s.metadata["reel_name"]).strip()
    return None


def write_reel(video: Any, reel: str | None) -> None:
    """Give the output's video stream the source's reel name (the mov muxer writes it into the
    ``tmcd`` track it makes of the timecode; other containers have no place for it)."""
    if reel:
        video.metadata["reel_name"] = reel


def copyable(container: Any) -> list[Any]:
    """The streams a job may copy: audio, subtitles and data tracks FFmpeg can name (not the
    timecode track, carried as a timecode), and attachments."""
    out = []
    for s in container.streams:
        if s.type == "attachment":
            out.append(s)
        elif s.type in ("audio", "subtitle") and s.codec_context is not None:
            out.append(s)
        elif s.type == "data" and not is_timecode_track(s) and getattr(s, "name", None):
            out.append(s)
    return out


def never_copied(container: Any) -> list[str]:
    """A warning for each stream no output can get: unknown codecs, extra video streams."""
    video = container.streams.video[0].index if container.streams.video else None
    kept = {s.index for s in copyable(container)}
    said = []
    for s in container.streams:
        if s.index == video or s.index in kept or is_timecode_track(s):
            continue
        what = "a second video stream" if s.type == "video" else f"a {s.type} stream"
        said.append(
            f"dropped {what} (#{s.index}, {codec_name(s)}): vidx writes one video stream"
            if s.type == "video"
            else f"dropped {what} (#{s.index}): its codec is unknown to FFmpeg"
        )
    return said


def refusal(stream: Any, fmt: str, supported: set[str], suffix: str) -> str | None:
    """None when ``stream`` can be copied into a ``fmt`` file, else the warning saying it is
    dropped; audio that cannot be copied is an OptionError (a job without its sound is not
    what anyone asked for)."""
    name = codec_name(stream)
    if stream.type == "attachment":
        if fmt in ATTACHMENT_FORMATS:
            return None
        return f"dropped an attachment ({stream.name}): {suffix} files cannot hold it; use .mkv"
    if name in supported:
        return None
    if stream.type == "audio":
        raise OptionError(
            f"the {name} audio of the input cannot be copied into a {suffix} file; use .mkv or .mov"
        )
    return f"dropped a {name} {stream.type} stream: {suffix} files cannot hold it"


def add_copy(out: Any, src: Any) -> Any:
    """Add a copy of ``src`` to the output container (an attachment's bytes go in the header);
    returns the new stream, or None for an attachment (it has no packets)."""
    if src.type == "attachment":
        out.add_attachment(src.name or "attachment", src.mimetype or "", bytes(src.data))
        return None
    dst = out.add_stream_from_template(src)
    dst.metadata.update(src.metadata)
    return dst


# timecode arithmetic ---------------------------------------------------------------------------


def timecode_rate(rate: Fraction | float | None) -> tuple[int, bool]:
    """Frames per timecode second and whether the rate is an NTSC one (29.97, 59.94)."""
    value = float(rate) if rate else 25.0
    base = max(1, round(value))
    return base, abs(value - base) > 1e-3 and base % 30 == 0


def to_frames(tc: str, base: int) -> int:
    """Frame number of ``tc`` (``HH:MM:SS:FF``; ``;`` before FF is drop-frame)."""
    m = TIMECODE.match(tc.strip())
    if m is None:
        raise ValueError(f"not a timecode: {tc!r}")
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    frames = ((hh * 60 + mm) * 60 + ss) * base + ff
    if sep in ";,":
        drop = base // 15
        minutes = hh * 60 + mm
        frames -= drop * (minutes - minutes // 10)
    return frames


def from_frames(frames: int, base: int, drop_frame: bool) -> str:
    """``HH:MM:SS:FF`` (``HH:MM:SS;FF`` for drop-frame) of a frame number, wrapping at 24 h."""
    if drop_frame:
        drop = base // 15
        per_minute = base * 60 - drop
        per_ten = base * 600 - 9 * drop
        frames %= per_ten * 144
        tens, rest = divmod(frames, per_ten)
        frames += 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    else:
        frames %= base * 86400
    ff = frames % base
    ss = frames // base % 60
    mm = frames // (base * 60) % 60
    hh = frames // (base * 3600) % 24
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop_frame else ':'}{ff:02d}"


def shift_timecode(tc: str, frames: int, rate: Fraction | float | None) -> str:
    """``tc`` moved by ``frames`` frames at ``rate`` (drop-frame kept as it was written)."""
    base, _ = timecode_rate(rate)
    drop_frame = TIMECODE.match(tc.strip()) is not None and tc.strip()[-3] in ";,"
    return from_frames(to_frames(tc, base) + frames, base, drop_frame)


def frames_before(start: float, rate: Fraction | float | None, first: float = 0.0) -> int:
    """How many source frames come before the first one a trim at ``start`` seconds keeps
    (frames at ``first``, ``first + 1/rate``, ...)."""
    if start <= first or not rate:
        return 0
    return max(0, math.ceil((start - first) * float(rate) - 1e-6))


def output_timecode(container: Any, start: float) -> str | None:
    """The timecode of a job's first output frame: the source's, moved by the trim ``start``."""
    tc = source_timecode(container)
    if tc is None:
        return None
    video = container.streams.video[0]
    rate = frame_rate(video)
    first = 0.0
    if video.start_time is not None and video.time_base is not None:
        first = float(video.start_time * video.time_base)
    return shift_timecode(tc, frames_before(start, rate, first), rate)


def frame_rate(video: Any) -> Fraction | None:
    """The rate timecode counts in: the stream's average rate, or its guessed rate where the
    average is no frame rate (Matroska's millisecond stamps can make it 1000)."""
    for rate in (video.average_rate, video.guessed_rate):
        if rate and 1 <= float(rate) <= 240:
            return Fraction(rate)
    return None


def write_timecode(out: Any, tc: str | None) -> None:
    """Tag the output container with its start timecode (mov/mp4: a ``tmcd`` track)."""
    if tc is not None:
        out.metadata["timecode"] = tc


def packet_streams(streams: list[Any]) -> list[Any]:
    """The streams of ``streams`` that carry packets (attachments carry none)."""
    return [s for s in streams if s.type in PACKET_TYPES]
