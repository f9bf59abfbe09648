"""The streaming job: read -> analyse -> restyle -> upscale -> place -> write, for one or more
outputs that share decoding and analysis.

Decode and encode run in threads of their own behind bounded queues, so they overlap the model
work done here; nothing holds more than a few frames, so memory does not grow with clip length.
The library never prints: progress goes to ``on_progress``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidx.analysis import Analyzer
from vidx.compare import compare_canvas, compare_path, compose
from vidx.frame import Frame, FrameContext
from vidx.io.image_sequence import Sequence, SequenceReader, is_pattern, output_name, sequence_info
from vidx.io.images import StillReader, is_image_path, still_info, to_uint8
from vidx.io.probe import VideoInfo, as_fraction, probe
from vidx.io.reader import Passthrough, Reader, Trim, repaired_warning
from vidx.io.sequence_writer import SequenceWriter
from vidx.io.sidecar import write_sidecar
from vidx.io.tracks import output_timecode, source_reel
from vidx.io.writer import EncodeSettings, VideoTarget, Writer, following_source, part_path
from vidx.options import AnalysisOptions
from vidx.regions import RegionTrack, composite
from vidx.restyle.base import Restyler
from vidx.upscale.base import Upscaler
from vidx.upscale.classic import ClassicUpscaler
from vidx.values.sizes import Layout, SizeSpec, place, plan_layout

if TYPE_CHECKING:
    from vidx.options import JobOptions  # recorded only (params()), never read here


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
    options: JobOptions | None = None  # only recorded (sidecar, resume manifest), never read
    region: RegionTrack | None = None  # restyle only there (--mask/--keep), source elsewhere
    first_number: int = 1  # of an image-sequence output: its first frame's number
    exr: str = "half"  # of an EXR image-sequence output: half or float
    temporal: bool = True  # False: the restyler reuses nothing across frames (--no-temporal)

    def __post_init__(self) -> None:
        self.path = Path(self.path)


@dataclass(frozen=True)
class JobContext:
    """What every runner of one job needs besides its outputs: the source (a file, or an
    image :class:`~vidx.io.image_sequence.Sequence`), its trim, the temporal analysis (None: no
    flow, every frame a keyframe) with the RAFT weights already loaded when it asks for RAFT,
    how to decode (``deinterlace``: ``auto`` or ``off``), CPU threads of the decoder, the
    encoders and libswscale (0: every core), and where progress goes. One context serves the
    straight pass, every segment (with its own trim) and every executor of a segment plan."""

    source: Path | Sequence
    trim: Trim = Trim()
    analysis: AnalysisOptions | None = None
    raft_state: Any = None
    deinterlace: str = "auto"
    threads: int = 0
    on_progress: ProgressCallback | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, Sequence):
            object.__setattr__(self, "source", Path(self.source))

    @property
    def path(self) -> Path:
        """The source file (a segmented job's input is always one)."""
        if isinstance(self.source, Sequence):
            raise TypeError("an image-sequence input is no single file")
        return self.source


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


def _reset_steady(upscaler: object) -> None:
    """A steadied upscaler (``vidx.upscale.steady``), maybe under a refine, starts each run
    (clip or segment) fresh: a segment's warm-up primes it, so straight, resumed and spread
    runs give the same frames."""
    while upscaler is not None:
        start = getattr(upscaler, "start_clip", None)
        if callable(start):
            start()
        upscaler = getattr(upscaler, "base", None)


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
    job: JobContext,
    outputs: list[Output],
    *,
    prefetch: int = 8,
    copy_streams: bool = True,
    sidecars: bool = True,
    first_frame: int = 0,
    analyzer: Analyzer | None = None,
) -> JobResult:
    """Run a whole job over checked outputs (see :mod:`vidx.jobs.run`, which plans and checks them);
    on any failure every partial output is removed and the error re-raised.

    ``job`` says what is read and how (:class:`JobContext`). ``copy_streams`` False leaves
    audio and subtitles out and ``sidecars`` False writes none (segments of a resumable job get
    both once, at assembly). Frames before ``first_frame`` are decoded and dropped (the
    finished frames of a resumed image sequence). ``analyzer``: one that goes on from an
    earlier segment of the job (see :func:`vidx.jobs.segments.render_segment`); the restylers are
    then not reset either.
    """
    # 1. open the source; reset the outputs' per-clip state unless a segment goes on
    info, reader = _open_reader(job, outputs, prefetch, copy_streams)
    total = expected_frames(info, job.trim)
    fresh = analyzer is None
    analyzer = Analyzer(job.analysis, job.raft_state) if analyzer is None else analyzer
    stream = _Stream(outputs, reader, info, job.threads)
    # 2. decode -> analyse -> restyle -> upscale -> place -> encode, frame by frame
    try:
        for out in outputs:
            if out.restyler is not None and fresh:
                out.restyler.reset()
            if out.region is not None:
                out.region.reset()
            _reset_steady(out.upscaler)
        for item in stream.items():
            if isinstance(item, Passthrough):
                stream.put_packet(item)
            elif item.index >= first_frame:
                stream.put_frame(item, analyzer)
                if job.on_progress is not None:
                    elapsed = time.perf_counter() - stream.started
                    job.on_progress(Progress(stream.done, total, elapsed))
        paths = stream.finish()
    except BaseException:
        stream.abort()
        raise
    finally:
        reader.close()
        for out in outputs:
            if out.region is not None:
                out.region.close()
    # 3. the result, and each output's sidecar
    result = stream.result(paths)
    if sidecars:
        for out, w in zip(outputs, stream.writers, strict=True):
            data = record(out, w.frames_written, info, job.trim, result)
            write_sidecar(output_name(out.path), data, params(out))
    return result


def _open_reader(
    job: JobContext, outputs: list[Output], prefetch: int, copy_streams: bool
) -> tuple[VideoInfo, Reader | StillReader]:
    """The source's description and its reader (decoded frames handed on as they are when
    no output needs pixel work, see :func:`in_yuv`)."""
    source = job.source
    if isinstance(source, Sequence):
        info = sequence_info(source)
        straight = job.analysis is None and all(_straight(out, info) for out in outputs)
        reader = SequenceReader(source, job.trim, prefetch=prefetch, decoded=straight, deep=True)
        return info, reader
    if is_image_path(source):  # a picture becomes a one-frame video
        return still_info(source), StillReader(source, deep=True)
    info = probe(source)
    straight = job.analysis is None and all(_straight(out, info) for out in outputs)
    return info, Reader(
        source,
        job.trim,
        prefetch=prefetch,
        copy_streams=copy_streams,
        decoded=straight,
        deinterlace=job.deinterlace,
        deep=True,  # 16-bit RGB for sources deeper than 8 bits
        threads=job.threads,
    )


class _Stream:
    """One pass's writers, opened at the first frame (packets copied before it wait), and
    its timings."""

    def __init__(
        self, outputs: list[Output], reader: Reader | StillReader, info: VideoInfo, threads: int
    ) -> None:
        self.outputs, self.reader, self.info, self.threads = outputs, reader, info, threads
        self.writers: list[Writer | SequenceWriter] = []  # one per output, in order
        self.compares: dict[int, Writer] = {}  # output index -> its before/after writer
        self.layouts: dict[str, Layout] = {}
        self.early: list[Passthrough] = []
        self.timings = Timings()
        self.done = 0
        self.started = time.perf_counter()

    def items(self) -> Iterator[Frame | Passthrough]:
        """The reader's items, the time spent waiting for each counted."""
        clock = time.perf_counter()
        for item in self.reader:
            self.timings.read_wait += time.perf_counter() - clock
            yield item
            clock = time.perf_counter()

    def _all(self) -> list[Writer | SequenceWriter]:
        return [*self.writers, *self.compares.values()]

    def put_packet(self, packet: Passthrough) -> None:
        if not self.writers:
            self.early.append(packet)
            return
        for w in self._all():
            w.put_packet(packet)

    def put_frame(self, frame: Frame, analyzer: Analyzer) -> None:
        if not self.writers:
            self.writers, self.compares = _open_writers(
                self.outputs, frame, self.reader, self.layouts, self.info, self.threads
            )
            for packet in self.early:
                for w in self._all():
                    w.put_packet(packet)
            self.early.clear()
        _process(
            frame, self.outputs, self.writers, self.compares, self.layouts, analyzer, self.timings
        )
        self.done += 1

    def finish(self) -> list[Path]:
        t = time.perf_counter()
        paths = [w.finish() for w in self.writers]
        for c in self.compares.values():
            c.finish()
        self.timings.write_wait += time.perf_counter() - t
        return paths

    def abort(self) -> None:
        """Stop every writer and remove every partial output."""
        for w in self._all():
            w.abort()
        for out in self.outputs:
            part_path(out.path).unlink(missing_ok=True)
            if out.compare:
                part_path(compare_path(out.path)).unlink(missing_ok=True)

    def result(self, paths: list[Path]) -> JobResult:
        self.timings.total = time.perf_counter() - self.started
        warnings = list(self.reader.warnings) + [m for w in self.writers for m in w.warnings]
        repaired = getattr(self.reader, "repaired", 0)
        if repaired:
            warnings.append(repaired_warning(repaired))
        return JobResult(paths, self.done, self.timings, warnings, self.layouts, repaired)


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
    tc = reel = None  # segments carry none (the remux adds them), pictures have none
    if isinstance(reader, Reader) and reader.carry:
        tc = output_timecode(reader.container, reader.trim.start)
        reel = source_reel(reader.container)
    colour = reader.colour if isinstance(reader, Reader) else None  # the source's, kept
    for i, out in enumerate(outputs):
        layout = plan_layout(out.size, (w, h), out.fit)
        layouts[out.name] = layout
        target = VideoTarget(
            layout.canvas[0],
            layout.canvas[1],
            reader.time_base,
            rate,
            meta,
            tc,
            reel=reel,
            colour=colour,
        )
        settings = following_source(out.encode, info.pix_fmt)  # the source's depth and chroma
        try:
            if is_pattern(out.path):
                writers.append(
                    SequenceWriter(
                        out.path,
                        first_number=out.first_number,
                        exr=out.exr,
                        copy_from=reader.copied,
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
        if region is not None and not out.temporal:
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
