"""Packet-level work for segmented jobs: a fast timestamp scan of the input and the final remux
of finished segments plus the input's audio and subtitles, with no decoding or re-encoding.

Convention: times are seconds as floats computed ``float(ts * time_base)``, exactly as
:class:`vidx.io.reader.Reader` computes them, so the same 1e-6 tolerance rules apply.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidx.errors import InputError, OutputError, VidxError
from vidx.io.probe import open_input
from vidx.io.reader import Trim
from vidx.io.tracks import (
    add_copy,
    copyable,
    never_copied,
    output_timecode,
    refusal,
    source_reel,
    write_reel,
    write_timecode,
)
from vidx.io.writer import container_format, part_path

EPS = 1e-6  # the Reader's tolerance on trim edges
KEEP_METADATA = ("title", "comment", "artist", "date")


@dataclass
class FrameScan:
    """Display times of the frames a job will process, from the packets alone.

    ``times`` are the kept frames (trim applied) in display order; ``keyframes`` are indices into
    ``times`` of frames whose packet is a keyframe; ``after`` is the time of the first source
    frame after the kept ones (None when the kept frames run to the end of the file);
    ``end_time`` is where the Reader would cut copied streams (None: keep all of them).
    """

    times: list[float]
    keyframes: list[int]
    after: float | None
    end_time: float | None
    time_base: Fraction


def scan_frames(path: str | Path, trim: Trim = Trim()) -> FrameScan:
    """Demux the video packets only (no decoding) and apply ``trim`` the way the Reader does."""
    container = open_input(path)
    try:
        video = container.streams.video[0]
        tb: Fraction = video.time_base or Fraction(1, 90000)
        stamps: list[tuple[int, bool]] = []
        try:
            for packet in container.demux(video):
                # sorted below, so reordered pts are fine; where the decoder's output takes
                # dts (packed B-frames) the displayed frame still carries the pts order
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None or packet.size == 0:
                    continue
                stamps.append((ts, bool(packet.is_keyframe)))
        except av.error.FFmpegError:
            pass  # a damaged tail: the Reader stops there too
    finally:
        container.close()
    ordered, keyframe = _nudged(sorted(stamps, key=lambda s: s[0]))
    start, end = trim.start, trim.end
    times: list[float] = []
    keys: list[int] = []
    after: float | None = None
    for ts in ordered:
        t = float(ts * tb)
        if t < start - EPS:
            continue
        full = trim.max_frames is not None and len(times) >= trim.max_frames
        if (end is not None and t >= end - EPS) or full:
            after = t
            break
        if keyframe[ts]:
            keys.append(len(times))
        times.append(t)
    if not times:
        raise InputError(f"{path}: no video frame" + (f" after --start {start}" if start else ""))
    end_time = end
    if trim.max_frames is not None and len(times) >= trim.max_frames:
        step = times[-1] - times[-2] if len(times) > 1 else float(tb)
        stop = times[-1] + step
        end_time = stop if end is None else min(stop, end)
    return FrameScan(times, keys, after, end_time, tb)


def _nudged(stamps: list[tuple[int, bool]]) -> tuple[list[int], dict[int, bool]]:
    """Timestamps made strictly increasing as the Reader makes them (a duplicate moves to the
    next free tick), with each one's keyframe flag."""
    ordered: list[int] = []
    keyframe: dict[int, bool] = {}
    for ts, key in stamps:
        if ordered and ts <= ordered[-1]:
            ts = ordered[-1] + 1
        ordered.append(ts)
        keyframe[ts] = key
    return ordered, keyframe


def copy_warnings(input_path: str | Path, output: Path, codec: str) -> list[str]:
    """Check up front that the input's audio can be copied into ``output`` (an OptionError if
    not, as the Writer would raise at the end of a long job); the subtitles, data tracks and
    attachments it cannot hold, and streams no output gets, are named in the warnings."""
    fmt = container_format(output, codec)
    probe_out = av.open(io.BytesIO(), "w", format=fmt)
    supported = probe_out.supported_codecs
    probe_out.close()
    with open_input(input_path) as container:
        warnings = never_copied(container)
        for src in copyable(container):
            dropped = refusal(src, fmt, set(supported), output.suffix)
            if dropped is not None:
                warnings.append(dropped)
    return warnings


def assemble(
    segments: list[tuple[Path, float]],
    input_path: str | Path,
    output: Path,
    codec: str,
    trim: Trim,
    end_time: float | None,
) -> int:
    """Write ``output`` (through ``OUTPUT.part``) from the video packets of ``segments``
    (file, source time of its first frame) in order and the input's audio/subtitle packets cut
    as the Reader cuts them; returns the number of video packets. Nothing is left at
    ``output`` or ``OUTPUT.part`` on failure."""
    part = part_path(output)
    fmt = container_format(output, codec)
    source = open_input(input_path)
    out = av.open(str(part), "w", format=fmt)
    try:
        count = _mux_all(out, segments, source, trim, end_time)
        out.close()
    except BaseException as exc:
        try:
            out.close()
        except Exception:  # noqa: BLE001 - the file is removed anyway
            pass
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError | av.error.FFmpegError) and not isinstance(exc, VidxError):
            raise OutputError(f"assembling {output} from its segments failed: {exc}") from None
        raise
    finally:
        source.close()
    part.replace(output)
    return count


def _mux_all(
    out: av.container.OutputContainer,
    segments: list[tuple[Path, float]],
    source: av.container.InputContainer,
    trim: Trim,
    end_time: float | None,
) -> int:
    out.metadata.update({k: v for k, v in source.metadata.items() if k in KEEP_METADATA})
    with av.open(str(segments[0][0])) as first:
        template = first.streams.video[0]
        vtb: Fraction = template.time_base or Fraction(1, 90000)
        # opaque: copy the codec parameters as they are (no encoder is looked up by the
        # decoder's name, which fails for AV1 decoded by libdav1d)
        vs = out.add_stream_from_template(template, opaque=True)
        vs.time_base = vtb
        rate = template.average_rate or template.guessed_rate
        if rate:
            vs.codec_context.framerate = rate  # the mov muxer's timecode track counts in it
        # keep the encoder's tag where the muxer stores it (ProRes profiles: apco, ap4h ...;
        # Matroska keeps a ProRes tag as its codec private data)
        if out.format.name in ("mov", "mp4") or template.codec_context.name == "prores":
            vs.codec_context.codec_tag = template.codec_context.codec_tag
    supported = set(out.supported_codecs)
    stream_map: dict[int, av.stream.Stream] = {}
    for src in copyable(source):  # (what cannot be copied was said by copy_warnings)
        if refusal(src, out.format.name, supported, ".out") is None:
            dst = add_copy(out, src)
            if dst is not None:
                stream_map[src.index] = dst
    write_timecode(out, output_timecode(source, trim.start if trim.rebase else 0.0))
    write_reel(vs, source_reel(source))
    # the Reader shifts by whole ticks of the *input* video time base; do the same in seconds
    in_tb = source.streams.video[0].time_base or Fraction(1, 90000)
    rebase = Fraction(round(trim.start / in_tb)) * in_tb if trim.rebase else Fraction(0)
    video = _video_packets(segments, vs, vtb, rebase)
    copied = _copied_packets(source, stream_map, trim, end_time)
    count = 0
    for _, packet in heapq.merge(video, copied, key=lambda item: item[0]):
        out.mux(packet)
        count += packet.stream is vs
    return count


def _video_packets(
    segments: list[tuple[Path, float]],
    vs: av.video.stream.VideoStream,
    tb: Fraction,
    rebase: Fraction,
) -> Iterator[tuple[float, av.Packet]]:
    """Every segment's video packets in the first segment's time base, shifted by ``rebase``
    seconds, with dts kept strictly increasing across segment boundaries.

    A segment's first packet (its keyframe) is placed exactly at the segment's planned start:
    an mp4/mov segment that starts late stores that offset in an edit list of millisecond
    precision, so its own timestamps can be a few ticks off; the rest keep their spacing.
    """
    shift = round(rebase / tb)
    last_dts: int | None = None
    for path, start in segments:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stb: Fraction = stream.time_base or tb
            offset: int | None = None
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                pts = _rescale(packet.pts, stb, tb)
                if offset is None:
                    offset = round(Fraction(start) / tb) - pts if start else 0
                pts += offset - shift
                dts = None  # (Matroska stores none for reordered frames; the muxer needs none)
                if packet.dts is not None:
                    dts = _rescale(packet.dts, stb, tb) + offset - shift
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                    if dts > pts:
                        raise OutputError(
                            f"cannot join segment {path.name}: its first frames overlap the "
                            "previous segment's timestamps; add --restart"
                        )
                    last_dts = dts
                packet.pts, packet.dts = pts, dts
                packet.time_base = tb
                packet.stream = vs
                key = dts if dts is not None else (last_dts if last_dts is not None else pts)
                yield float(key * tb), packet


def _rescale(ts: int, src: Fraction, dst: Fraction) -> int:
    return ts if src == dst else round(ts * src / dst)


def _copied_packets(
    source: av.container.InputContainer,
    stream_map: dict[int, av.stream.Stream],
    trim: Trim,
    end_time: float | None,
) -> Iterator[tuple[float, av.Packet]]:
    """The input's audio/subtitle packets with the Reader's rules: before ``trim.start`` dropped
    (only when it is > 0), at/after ``end_time`` dropped, timestamps shifted when rebasing."""
    if not stream_map:
        return
    start = trim.start
    if start > 0:
        source.seek(int(start * av.time_base), backward=True, any_frame=False)
    streams = [source.streams[i] for i in stream_map]
    shifts = {
        s.index: round(start / (s.time_base or Fraction(1, 90000))) if trim.rebase else 0
        for s in streams
    }
    try:
        for packet in source.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue
            t = float(ts * packet.time_base)
            if (start and t < start - EPS) or (end_time is not None and t >= end_time - EPS):
                continue
            shift = shifts[packet.stream.index]
            if shift:
                packet.pts = None if packet.pts is None else packet.pts - shift
                packet.dts = None if packet.dts is None else packet.dts - shift
            key = float((packet.dts if packet.dts is not None else ts - shift) * packet.time_base)
            packet.stream = stream_map[packet.stream.index]
            yield key, packet
    except av.error.FFmpegError:
        return  # a damaged tail: keep what was readable, as the Reader does
