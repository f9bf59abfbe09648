"""The streaming job: read -> analyse -> restyle -> upscale -> place -> write, for one or more
outputs that share decoding and analysis.

Decode and encode run in threads of their own behind bounded queues, so they overlap the model
work done here; nothing holds more than a few frames, so memory does not grow with clip length.
The library never prints: progress goes to ``on_progress``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidx.analysis import Analyzer
from vidx.compare import compare_canvas, compare_path, compose
from vidx.frame import Frame, FrameContext
from vidx.io.probe import VideoInfo, as_fraction, probe
from vidx.io.reader import Passthrough, Reader, Trim, repaired_warning
from vidx.io.sequence import Sequence, SequenceReader, is_pattern, output_name, sequence_info
from vidx.io.sequence_writer import SequenceWriter
from vidx.io.still import StillReader, is_image_path, still_info, to_uint8
from vidx.io.tracks import output_timecode
from vidx.io.writer import EncodeSettings, VideoTarget, Writer, following_source, part_path
from vidx.options import AnalysisOptions, JobOptions
from vidx.regions import RegionTrack, composite
from vidx.restyle.base import Restyler
from vidx.sidecar import write_sidecar
from vidx.sizes import Layout, SizeSpec, place, plan_layout
from vidx.upscale.base import Upscaler
from vidx.upscale.classic import ClassicUpscaler


@dataclass
class Output:
    """One result file of a job and how to make it."""

    path: Path
    upscaler: Upscaler
    size: SizeSpec
    fit: str = "contain"
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    restyler: Restyler | None = None
    name: str = "main"
    compare: str | None = None
    options: JobOptions | None = None  # what the sidecar and the resume manifest record
    region: RegionTrack | None = None  # restyle only there (--mask/--keep), source elsewhere
    first_number: int = 1  # of an image-sequence output: its first frame's number

    def __post_init__(self) -> None:
        self.path = Path(self.path)


@dataclass
class Progress:
    """Frames done of ``total`` after ``elapsed`` seconds; with ``phase``, a message about
    what the job does now ("loading models", "assembling out.mp4 from 3 segments")."""

    done: int
    total: int | None
    elapsed: float
    phase: str | None = None

    @property
    def fps(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


def say_phase(
    callback: Callable[[Progress], None] | None,
    phase: str,
    done: int = 0,
    total: int | None = None,
    elapsed: float = 0.0,
) -> None:
    """Tell ``callback`` (if any) what the job does now."""
    if callback is not None:
        callback(Progress(done, total, elapsed, phase))


@dataclass
class Timings:
    read_wait: float = 0.0
    analysis: float = 0.0
    restyle: float = 0.0
    upscale: float = 0.0
    write_wait: float = 0.0
    total: float = 0.0


@dataclass
class JobResult:
    outputs: list[Path]
    frames: int
    timings: Timings
    warnings: list[str]
    layouts: dict[str, Layout]
    repaired: int = 0  # frames whose duplicate or backward timestamp was moved forward


ProgressCallback = Callable[[Progress], None]


def in_yuv(out: Output, info: VideoInfo) -> bool:
    """True when ``out`` needs no pixel work besides a classical resize that fills the whole
    canvas: no restyle, no compare, a classical resampler on an unrotated source. Such an
    output takes decoded frames as they are; the writer resizes them in YUV with libswscale
    (a straight transcode when the size is the source's; see :func:`vidx.io.writer.resample`)."""
    # (exactly the classical resampler: a subclass may do its own pixel work)
    if out.restyler is not None or out.compare or type(out.upscaler) is not ClassicUpscaler:
        return False
    layout = plan_layout(out.size, (info.width, info.height), out.fit)
    return info.rotation == 0 and layout.content == layout.canvas


def _straight(out: Output, info: VideoInfo) -> bool:
    """Whether ``out`` takes decoded frames (:func:`in_yuv`); an image-sequence output does
    only when nothing is resized (its writer converts, it does not resize)."""
    if not in_yuv(out, info):
        return False
    if is_pattern(out.path):
        layout = plan_layout(out.size, (info.width, info.height), out.fit)
        return layout.canvas == (info.width, info.height)
    return True


def expected_frames(info: VideoInfo, trim: Trim) -> int | None:
    if info.frames is None:
        return trim.max_frames
    total = info.frames
    rate = float(as_fraction(info.average_rate) or 0) or None
    if rate:
        if trim.start:
            total = max(0, total - int(trim.start * rate))
        if trim.duration is not None:
            total = min(total, int(round(trim.duration * rate)))
    if trim.max_frames is not None:
        total = min(total, trim.max_frames)
    return total


def run(
    input_path: str | Path | Sequence,
    outputs: list[Output],
    *,
    trim: Trim = Trim(),
    analysis: AnalysisOptions | None = None,
    raft_state: Any = None,
    on_progress: ProgressCallback | None = None,
    prefetch: int = 8,
    copy_streams: bool = True,
    sidecars: bool = True,
    deinterlace: str = "auto",
    first_frame: int = 0,
    threads: int = 0,
    analyzer: Analyzer | None = None,
) -> JobResult:
    """Run a whole job over checked outputs (see :mod:`vidx.jobs`, which plans and checks them);
    on any failure every partial output is removed and the error re-raised.

    ``analysis`` None computes no flow (every frame a keyframe). ``copy_streams`` False leaves
    audio and subtitles out and ``sidecars`` False writes none (segments of a resumable job get
    both once, at assembly). ``raft_state``: RAFT weights already loaded, when ``analysis`` asks
    for RAFT flow; ``deinterlace``: ``auto`` or ``off`` (see :class:`vidx.io.reader.Reader`);
    ``threads``: CPU threads of the decoder, the encoders and libswscale (0: every core).
    ``input_path`` may be an image :class:`~vidx.io.sequence.Sequence`. Frames before
    ``first_frame`` are decoded and dropped (the finished frames of a resumed image sequence).
    ``analyzer``: one that goes on from an earlier segment of the job (see
    :func:`vidx.segments.render_segment`); the restylers are then not reset either.
    """
    reader: Reader | StillReader
    if isinstance(input_path, Sequence):
        info = sequence_info(input_path)
        straight = analysis is None and all(_straight(out, info) for out in outputs)
        reader = SequenceReader(input_path, trim, prefetch=prefetch, decoded=straight, deep=True)
    elif is_image_path(input_path):  # a picture becomes a one-frame video
        info, reader = still_info(input_path), StillReader(input_path, deep=True)
    else:
        input_path = Path(input_path)
        info = probe(input_path)
        straight = analysis is None and all(_straight(out, info) for out in outputs)
        reader = Reader(
            input_path,
            trim,
            prefetch=prefetch,
            copy_streams=copy_streams,
            decoded=straight,
            deinterlace=deinterlace,
            deep=True,  # 16-bit RGB for sources deeper than 8 bits
            threads=threads,
        )
    total = expected_frames(info, trim)
    started = time.perf_counter()
    timings = Timings()
    fresh = analyzer is None
    analyzer = Analyzer(analysis, raft_state) if analyzer is None else analyzer
    writers: list[Writer | SequenceWriter] = []  # one per output, in order
    compares: dict[int, Writer] = {}  # output index -> its before/after writer
    layouts: dict[str, Layout] = {}
    early: list[Passthrough] = []
    done = 0
    try:
        for out in outputs:
            if out.restyler is not None and fresh:
                out.restyler.reset()
            if out.region is not None:
                out.region.reset()
        clock = time.perf_counter()
        for item in reader:
            timings.read_wait += time.perf_counter() - clock
            if isinstance(item, Passthrough):
                if writers:
                    for w in [*writers, *compares.values()]:
                        w.put_packet(item)
                else:
                    early.append(item)
                clock = time.perf_counter()
                continue
            if item.index < first_frame:
                clock = time.perf_counter()
                continue
            if not writers:
                writers, compares = _open_writers(outputs, item, reader, layouts, info, threads)
                for packet in early:
                    for w in [*writers, *compares.values()]:
                        w.put_packet(packet)
                early.clear()
            _process(item, outputs, writers, compares, layouts, analyzer, timings)
            done += 1
            if on_progress is not None:
                on_progress(Progress(done, total, time.perf_counter() - started))
            clock = time.perf_counter()
        t = time.perf_counter()
        paths = [w.finish() for w in writers]
        for c in compares.values():
            c.finish()
        timings.write_wait += time.perf_counter() - t
    except BaseException:
        for w in [*writers, *compares.values()]:
            w.abort()
        for out in outputs:
            part_path(out.path).unlink(missing_ok=True)
            if out.compare:
                part_path(compare_path(out.path)).unlink(missing_ok=True)
        raise
    finally:
        reader.close()
        for out in outputs:
            if out.region is not None:
                out.region.close()
    timings.total = time.perf_counter() - started
    warnings = list(reader.warnings) + [m for w in writers for m in w.warnings]
    repaired = getattr(reader, "repaired", 0)
    if repaired:
        warnings.append(repaired_warning(repaired))
    result = JobResult(paths, done, timings, warnings, layouts, repaired)
    if sidecars:
        for out, w in zip(outputs, writers, strict=True):
            data = record(out, w.frames_written, info, trim, result)
            write_sidecar(output_name(out.path), data, params(out))
    return result


def _open_writers(
    outputs: list[Output],
    first: Frame,
    reader: Reader | StillReader,
    layouts: dict[str, Layout],
    info: VideoInfo,
    threads: int = 0,
) -> tuple[list[Writer | SequenceWriter], dict[int, Writer]]:
    h, w = (
        first.rgb.shape[:2]
        if first.decoded is None
        else (first.decoded.height, first.decoded.width)
    )
    src = reader.video
    meta = {
        k: v
        for k, v in reader.container.metadata.items()
        if k in ("title", "comment", "artist", "date")
    }
    writers: list[Writer | SequenceWriter] = []
    compares: dict[int, Writer] = {}
    rate = src.average_rate or src.guessed_rate
    tc = None  # segments carry none (the remux adds it), pictures have none
    if isinstance(reader, Reader) and reader.carry:
        tc = output_timecode(reader.container, reader.trim.start)
    colour = reader.colour if isinstance(reader, Reader) else None  # the source's, kept
    for i, out in enumerate(outputs):
        layout = plan_layout(out.size, (w, h), out.fit)
        layouts[out.name] = layout
        target = VideoTarget(
            layout.canvas[0], layout.canvas[1], reader.time_base, rate, meta, tc, colour=colour
        )
        settings = following_source(out.encode, info.pix_fmt)  # the source's depth and chroma
        try:
            if is_pattern(out.path):
                exr = out.options.encode.exr if out.options is not None else "half"
                writers.append(
                    SequenceWriter(
                        out.path, first_number=out.first_number, exr=exr, copy_from=reader.copied
                    )
                )
                continue
            writers.append(Writer(out.path, settings, target, reader.copied, threads=threads))
            if out.compare:
                cw, ch = compare_canvas(layout.canvas, out.compare)
                ctarget = VideoTarget(cw, ch, reader.time_base, rate, meta, tc, colour=colour)
                compares[i] = Writer(
                    compare_path(out.path), settings, ctarget, reader.copied, threads=threads
                )
        except BaseException:
            for w in [*writers, *compares.values()]:
                w.abort()
            raise
    return writers, compares


def _process(
    frame: Frame,
    outputs: list[Output],
    writers: list[Writer | SequenceWriter],
    compares: dict[int, Writer],
    layouts: dict[str, Layout],
    analyzer: Analyzer,
    timings: Timings,
) -> None:
    if frame.decoded is not None:  # no pixel work here: the writer resizes in YUV (in_yuv)
        t0 = time.perf_counter()
        for out, writer in zip(outputs, writers, strict=True):
            writer.put_decoded(frame.decoded, frame.pts, out.upscaler.name)
        timings.write_wait += time.perf_counter() - t0
        return
    t0 = time.perf_counter()
    # a 16-bit frame goes on as it is to resampling and placement; flow, the restylers (models
    # of 8-bit pictures) and the before/after video get an 8-bit copy
    eight = frame.rgb.dtype == np.uint8 or not (
        analyzer.scheduler is not None or compares or any(o.restyler for o in outputs)
    )
    low = frame if eight else replace(frame, rgb=to_uint8(frame.rgb))
    ctx = analyzer(low)
    t1 = time.perf_counter()
    timings.analysis += t1 - t0
    for i, (out, writer) in enumerate(zip(outputs, writers, strict=True)):
        layout = layouts[out.name]
        t1 = time.perf_counter()
        region = None
        if out.region is not None and out.restyler is not None:
            region = out.region.track(ctx, low.rgb.shape[:2])
        own = ctx if region is None else replace(ctx, region=region)
        if region is not None and out.options is not None and not out.options.restyle.temporal:
            # the flow is there for the region only: --no-temporal still means no reuse
            own = replace(own, keyframe=True, flow=None, mask=None)
        image = out.restyler(low.rgb, own) if out.restyler is not None else frame.rgb
        t2 = time.perf_counter()
        image = out.upscaler(image, layout.content, ctx)
        if region is not None and out.region is not None:
            image = keep_source(image, low.rgb, out, region, layout.content, ctx)
        image = place(np.ascontiguousarray(image), layout.canvas)
        t3 = time.perf_counter()
        writer.put_frame(image, frame.pts)
        if i in compares and out.compare:
            pair = compose(low.rgb, to_uint8(image), out.compare, layout.canvas)
            compares[i].put_frame(pair, frame.pts)
        t4 = time.perf_counter()
        timings.restyle += t2 - t1
        timings.upscale += t3 - t2
        timings.write_wait += t4 - t3


def keep_source(
    image: np.ndarray,
    source: np.ndarray,
    out: Output,
    region: np.ndarray,
    size: tuple[int, int],
    ctx: FrameContext,
) -> np.ndarray:
    """The restyled, upscaled ``image`` over the source brought to the same ``size`` by the
    same upscaler (its diffusion refine left out: that would restyle the kept part), so the
    kept region is the source as an unrestyled run of this output would write it."""
    assert out.region is not None
    base = getattr(out.upscaler, "base", out.upscaler)
    plain = base(source, size, ctx)
    weight = out.region.weight(region, size)
    return composite(image, plain.astype(image.dtype, copy=False), weight)


def params(out: Output) -> dict[str, Any]:
    """The options the sidecar records for ``out`` (empty when built by hand)."""
    return out.options.to_dict() if out.options is not None else {}


def record(
    out: Output, frames: int, info: VideoInfo, trim: Trim, result: JobResult
) -> dict[str, Any]:
    """What the sidecar says of one video output besides its options."""
    layout = result.layouts[out.name]
    region = {"region": out.region.describe()} if out.region is not None else {}
    return region | {
        "input": info.to_dict(),
        "trim": {"start": trim.start, "duration": trim.duration, "max_frames": trim.max_frames},
        "size": {
            "spec": out.size.text,
            "fit": out.fit,
            "content": list(layout.content),
            "canvas": list(layout.canvas),
        },
        "encode": following_source(out.encode, info.pix_fmt).to_dict(),
        "restyle": out.restyler.describe() if out.restyler is not None else None,
        "upscale": out.upscaler.describe(),
        "frames": frames,
        "timings_s": vars(result.timings),
        "warnings": result.warnings,
    }
