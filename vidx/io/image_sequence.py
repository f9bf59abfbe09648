"""Image sequences as input: find the numbered frames, describe them, read them as a clip.

A sequence is named by a printf pattern (``frames/%06d.png``, ``shot.%04d.exr``) or by a folder
that holds one numbered run of pictures. It is read with FFmpeg's ``image2`` demuxer, so PNG
(8/16-bit), TIFF (8/16-bit), EXR (half/float) and DPX decode as any other video would; its timing
is the ``--fps`` given (a sequence has none of its own), frame k shown at ``k / fps``.

Convention: a sequence's frames are the numbers ``first .. first + count - 1`` with no gap (a gap
is an InputError naming the first missing frame: reading past it would shift every later frame
in time). Derived names (sidecar, resume manifest) use ``#`` for the digits (``out/######.png``),
a name no frame of the sequence can have.

Every frame is within ``max_pixels``, checked from its header (:func:`frame_size`, no pixels
decoded): all of them when a job is planned (:func:`check_sizes`), and each again as the reader
reaches it, so a frame replaced in between is caught too. A frame that cannot be decoded is an
InputError naming it, or, with ``skip_bad`` (``--skip-bad-frames``), left out and counted in one
warning; the frames after it keep their times.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidx.errors import InputError
from vidx.io.colour import Colour
from vidx.io.images import FRAME_NUMBER
from vidx.io.inputs import MAX_PIXELS, check_pixels, check_regular_file, image_size
from vidx.io.probe import StreamInfo, VideoInfo
from vidx.io.reader import Reader, Trim

SEQUENCE_EXTS = (".png", ".tif", ".tiff", ".exr", ".dpx")
DEFAULT_RATE = Fraction(24)
_NUMBERED = re.compile(r"^(.*?)(\d+)$")  # a stem ending in digits: prefix, number


def is_pattern(path: str | Path) -> bool:
    """``path``'s file name holds one ``%d``/``%0Nd`` and a sequence extension."""
    p = Path(path)
    if len(FRAME_NUMBER.findall(p.name)) != 1 or p.suffix.lower() not in SEQUENCE_EXTS:
        return False
    try:
        return p.name % 1 != p.name  # no stray %s or lone % besides the number
    except (TypeError, ValueError):
        return False


def is_sequence_input(path: str | Path) -> bool:
    """A pattern, or a folder (which :func:`find_sequence` then has to make sense of)."""
    return is_pattern(path) or os.path.isdir(path)  # never raises (a name too long)


@dataclass(frozen=True)
class Sequence:
    """The numbered frames ``first .. first + count - 1`` of ``pattern``, shown at ``rate``, each
    at most ``max_pixels``; with ``skip_bad`` a frame that cannot be decoded is left out (else it
    is an InputError)."""

    pattern: Path
    first: int
    count: int
    rate: Fraction = DEFAULT_RATE
    max_pixels: int = MAX_PIXELS
    skip_bad: bool = False

    def path(self, number: int) -> Path:
        return frame_path(self.pattern, number)

    def numbers(self) -> range:
        return range(self.first, self.first + self.count)

    def files(self) -> list[Path]:
        return [self.path(n) for n in self.numbers()]

    @property
    def name(self) -> Path:
        return hashed(self.pattern)


def frame_path(pattern: Path, number: int) -> Path:
    """The file of frame ``number`` of ``pattern`` (its one ``%d``/``%0Nd``; ``%%`` is ``%``)."""
    return pattern.with_name(pattern.name % number)


def hashed(pattern: Path) -> Path:
    """``out/%06d.png`` -> ``out/######.png``: the sequence's name for derived files."""

    def hashes(m: re.Match[str]) -> str:
        return "#" * (int(m.group(1)) if m.group(1) else 1)

    return pattern.with_name(FRAME_NUMBER.sub(hashes, pattern.name, count=1))


def output_name(path: Path) -> Path:
    """The name derived files of an output are named after: :func:`hashed` for a pattern."""
    return hashed(path) if is_pattern(path) else path


def find_sequence(
    path: str | Path,
    rate: Fraction = DEFAULT_RATE,
    *,
    max_pixels: int = MAX_PIXELS,
    skip_bad: bool = False,
) -> Sequence:
    """The sequence ``path`` names: a pattern, or a folder of one numbered run of pictures
    (its frames are not opened here: see :func:`check_sizes`).

    Raises:
        InputError: no frame found, a gap in the numbers, a folder with no or several runs.
    """
    p = Path(path)
    pattern = _folder_pattern(p) if p.is_dir() else p
    folder = pattern.parent
    if not folder.is_dir():
        raise InputError(f"input {pattern}: the folder {folder} does not exist")
    regex = _pattern_regex(pattern.name)
    numbers = sorted(
        int(m.group(1))
        for f in os.listdir(folder)
        if (m := regex.fullmatch(f)) is not None and pattern.name % int(m.group(1)) == f
    )
    if not numbers:
        raise InputError(f"input {pattern}: no frame matches it in {folder}")
    first, last = numbers[0], numbers[-1]
    if len(numbers) != last - first + 1:
        have = set(numbers)
        gap = next(n for n in range(first, last + 1) if n not in have)
        raise InputError(
            f"input {pattern}: frame {frame_path(pattern, gap).name} is missing (frames "
            f"{first}..{last} expected, {len(numbers)} found); fill the gap or start after it"
        )
    return Sequence(pattern, first, len(numbers), rate, max_pixels, skip_bad)


def _pattern_regex(name: str) -> re.Pattern[str]:
    """A regex matching the file names of pattern ``name`` (group 1: the number)."""
    m = FRAME_NUMBER.search(name)
    assert m is not None  # is_pattern() was checked by the caller
    width = m.group(1)
    digits = rf"\d{{{int(width)},}}" if width else r"\d+"
    head, tail = (re.escape(s.replace("%%", "%")) for s in (name[: m.start()], name[m.end() :]))
    return re.compile(f"{head}({digits}){tail}")


def _folder_pattern(folder: Path) -> Path:
    """The pattern of the one numbered run of pictures in ``folder`` (hidden files ignored)."""
    runs: dict[tuple[str, str], list[str]] = {}
    for f in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(f)
        m = _NUMBERED.match(stem)
        if f.startswith(".") or ext.lower() not in SEQUENCE_EXTS or m is None:
            continue
        runs.setdefault((m.group(1), ext), []).append(m.group(2))
    if len(runs) != 1:
        found = ", ".join(f"{head}N{ext}" for head, ext in runs) or "none"
        raise InputError(
            f"input {folder}: a folder input is read as one numbered image sequence "
            f"({', '.join(SEQUENCE_EXTS)}); found {len(runs)} ({found}); name one with a "
            "pattern such as frames/%06d.png, or give -o OUTDIR/ for a batch"
        )
    (head, ext), digits = next(iter(runs.items()))
    widths = {len(d) for d in digits}
    token = f"%0{widths.pop()}d" if len(widths) == 1 else "%d"
    return folder / f"{head.replace('%', '%%')}{token}{ext}"


def fingerprint(seq: Sequence) -> dict[str, str]:
    """What a resumed job compares: the frames' names, sizes and modification times (hashing
    every frame of a 4K EXR sequence would take longer than many jobs)."""
    h = hashlib.sha256()
    for f in seq.files():
        st = os.stat(f)
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"sequence_sha256": h.hexdigest()}


def frame_size(seq: Sequence, number: int) -> tuple[int, int] | None:
    """``(width, height)`` of frame ``number`` of ``seq`` from its header (no pixels decoded);
    None when the header cannot be read and ``seq.skip_bad``.

    Raises:
        InputError: naming the frame: it is not a regular, non-empty file (never skipped: FFmpeg
            would block on a FIFO and end the sequence at an empty file), its header cannot be
            read (unless ``skip_bad``), or it is over ``seq.max_pixels`` (never skipped).
    """
    path = seq.path(number)
    check_regular_file(path, "input frame")
    try:
        width, height = image_size(path, "input frame")
    except InputError as exc:
        if seq.skip_bad:
            return None
        raise InputError(f"{exc}; --skip-bad-frames leaves such frames out") from None
    check_pixels(width, height, seq.max_pixels, f"input frame {path}")
    return width, height


def check_sizes(seq: Sequence) -> None:
    """Every frame's header, before any frame is decoded (see :func:`frame_size`; with
    ``skip_bad``, one that cannot be read is left for the reader to leave out)."""
    for number in seq.numbers():
        frame_size(seq, number)


def skipped_warning(paths: list[Path]) -> str:
    """The one warning for the frames ``--skip-bad-frames`` left out."""
    names = ", ".join(p.name for p in paths[:5]) + (", ..." if len(paths) > 5 else "")
    s = "s" if len(paths) != 1 else ""
    return f"left out {len(paths)} input frame{s} that cannot be decoded ({names})"


def open_sequence(seq: Sequence) -> av.container.InputContainer:
    """The ``image2`` demuxer over ``seq`` at its rate (frame k at pts k, time base 1/rate)."""
    options = {"framerate": str(seq.rate), "start_number": str(seq.first)}
    try:
        return av.open(str(seq.pattern), "r", format="image2", options=options)
    except av.error.FFmpegError as exc:
        raise InputError(f"input {seq.pattern}: cannot be read ({exc})") from None


def sequence_info(seq: Sequence) -> VideoInfo:
    """A :class:`VideoInfo` for ``seq`` (what ``probe`` gives), from its first frame (with
    ``skip_bad``, its first readable one). That frame alone is opened, after its header is
    checked: FFmpeg decodes frames to describe a stream, and on a pattern it would go on past
    one it cannot decode into the next, unchecked."""
    for number in seq.numbers():
        if frame_size(seq, number) is None:
            continue
        path = seq.path(number)
        try:
            container = av.open(str(path), "r", format="image2", options={"pattern_type": "none"})
        except av.error.FFmpegError as exc:
            if seq.skip_bad:
                continue
            raise InputError(f"input frame {path} cannot be read ({exc})") from None
        try:
            ctx = container.streams.video[0].codec_context
            if ctx.format is not None and ctx.width:
                return _info(seq, ctx, ctx.format)
        finally:
            container.close()
        if not seq.skip_bad:
            raise InputError(
                f"input frame {path} is not a readable picture; --skip-bad-frames leaves such "
                "frames out"
            )
    raise InputError(f"input {seq.pattern}: no frame can be read")


def _info(seq: Sequence, ctx: av.VideoCodecContext, fmt: av.VideoFormat) -> VideoInfo:
    depth = max((c.bits for c in fmt.components), default=8)
    return VideoInfo(
        path=str(seq.pattern),
        format="image2",
        duration=float(seq.count / seq.rate),
        width=ctx.width,
        height=ctx.height,
        rotation=0,
        codec=ctx.name,
        pix_fmt=fmt.name,
        bit_depth=depth,
        time_base=str(1 / seq.rate),
        average_rate=str(seq.rate),
        frames=seq.count,
        frames_exact=True,
        streams=[StreamInfo(0, "video", ctx.name)],
        first_number=seq.first,
    )


class SequenceReader(Reader):
    """:class:`vidx.io.reader.Reader` over a :class:`Sequence` (trim, seek, deep frames and
    the bounded queue as for a video; no other streams).

    Each frame's header is checked (:func:`frame_size`) before it is decoded, and its decoded
    size after. A frame that cannot be decoded is an InputError naming it, or with
    ``seq.skip_bad`` left out (``skipped``, one warning at the end).

    Convention: frame ``first + k`` is the packet and the frame with pts ``k``. A decoder hands
    results back in the order the files went in, so a failure belongs to the oldest file sent
    that has not come back as a frame (``_waiting``). With frame threads that result comes a few
    files late and PyAV drops the frames it received in the same call, harmless when the error
    ends the job; so with ``skip_bad`` the files are decoded one at a time (slice threads).
    """

    def __init__(self, seq: Sequence, trim: Trim = Trim(), **kwargs: object) -> None:
        self.sequence = seq
        self.skipped: list[Path] = []
        self._next = seq.first  # the number of the frame the demuxer reads next
        self._waiting: deque[int] = deque()  # numbers sent to the decoder, not yet a frame
        super().__init__(seq.pattern, trim, copy_streams=False, **kwargs)  # type: ignore[arg-type]
        if seq.skip_bad:
            self.video.thread_type = "SLICE"
        # RGB pictures carry no YUV tags worth keeping (PNG says full range): a video made from
        # them is tagged as one made from a still (BT.709 from 720p up, limited range)
        self.colour = Colour().resolved(
            self.video.codec_context.width, self.video.codec_context.height
        )

    def _open(self, path: Path) -> av.container.InputContainer:
        return open_sequence(self.sequence)

    def _timestamp_source(self) -> str:
        return "pts"  # the demuxer numbers the frames itself

    def _demux(self) -> None:
        super()._demux()
        if self.skipped:
            self.warnings.append(skipped_warning(self.skipped))
        seq = self.sequence
        cut = self.end_time is not None or self._stop.is_set()  # (a trim ended it)
        if not cut and self._next < seq.first + seq.count:  # the demuxer stopped early
            raise InputError(f"input frame {seq.path(self._next)} cannot be read")

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        seq = self.sequence
        flush = packet is None or packet.pts is None or not packet.size
        if packet is not None and not flush:
            number = seq.first + int(packet.pts)  # type: ignore[arg-type]
            self._next = number + 1
            if frame_size(seq, number) is None:  # (raises unless skip_bad)
                self._bad(number, "its header cannot be read")
                return []
            self._waiting.append(number)
        try:
            frames = self.video.decode(packet) if not flush else self.video.decode(None)
        except av.error.EOFError:
            frames = []  # already flushed
        except av.error.FFmpegError as exc:
            if self._waiting:
                self._bad(self._waiting.popleft(), str(exc))
            return []
        for frame in frames:
            number = seq.first + int(frame.pts or 0)
            while self._waiting and self._waiting[0] < number:
                self._bad(self._waiting.popleft(), "no picture in it")
            if self._waiting and self._waiting[0] == number:
                self._waiting.popleft()
            check_pixels(
                frame.width, frame.height, seq.max_pixels, f"input frame {seq.path(number)}"
            )
        while flush and self._waiting:
            self._bad(self._waiting.popleft(), "no picture in it")
        return frames

    def _bad(self, number: int, why: str) -> None:
        """Frame ``number`` cannot be decoded: an InputError, or with ``skip_bad`` noted."""
        path = self.sequence.path(number)
        if not self.sequence.skip_bad:
            raise InputError(
                f"input frame {path} cannot be decoded ({why}); --skip-bad-frames leaves such "
                "frames out"
            )
        self.skipped.append(path)

    def _damaged(self, exc: Exception) -> None:
        """A demuxer error: the frame it was reading cannot be read (never skipped)."""
        raise InputError(f"input frame {self.sequence.path(self._next)} cannot be read ({exc})")
