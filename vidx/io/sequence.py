"""Image sequences as input: find the numbered frames, describe them, read them as a clip.

A sequence is named by a printf pattern (``frames/%06d.png``, ``shot.%04d.exr``) or by a folder
that holds one numbered run of pictures. It is read with FFmpeg's ``image2`` demuxer, so PNG
(8/16-bit), TIFF (8/16-bit), EXR (half/float) and DPX decode as any other video would; its timing
is the ``--fps`` given (a sequence has none of its own), frame k shown at ``k / fps``.

Convention: a sequence's frames are the numbers ``first .. first + count - 1`` with no gap (a gap
is an InputError naming the first missing frame: reading past it would shift every later frame
in time). Derived names (sidecar, resume manifest) use ``#`` for the digits (``out/######.png``),
a name no frame of the sequence can have.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidx.errors import InputError
from vidx.io.colour import Colour
from vidx.io.probe import StreamInfo, VideoInfo
from vidx.io.reader import Reader, Trim
from vidx.io.still import FRAME_NUMBER

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
    return is_pattern(path) or Path(path).is_dir()


@dataclass(frozen=True)
class Sequence:
    """The numbered frames ``first .. first + count - 1`` of ``pattern``, shown at ``rate``."""

    pattern: Path
    first: int
    count: int
    rate: Fraction = DEFAULT_RATE

    def path(self, number: int) -> Path:
        return frame_path(self.pattern, number)

    def files(self) -> list[Path]:
        return [self.path(n) for n in range(self.first, self.first + self.count)]

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


def find_sequence(path: str | Path, rate: Fraction = DEFAULT_RATE) -> Sequence:
    """The sequence ``path`` names: a pattern, or a folder of one numbered run of pictures.

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
    return Sequence(pattern, first, len(numbers), rate)


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


def open_sequence(seq: Sequence) -> av.container.InputContainer:
    """The ``image2`` demuxer over ``seq`` at its rate (frame k at pts k, time base 1/rate)."""
    options = {"framerate": str(seq.rate), "start_number": str(seq.first)}
    try:
        return av.open(str(seq.pattern), "r", format="image2", options=options)
    except av.error.FFmpegError as exc:
        raise InputError(f"input {seq.pattern}: cannot be read ({exc})") from None


def sequence_info(seq: Sequence) -> VideoInfo:
    """A :class:`VideoInfo` for ``seq`` (what ``probe`` gives), from its first frame."""
    container = open_sequence(seq)
    try:
        vs = container.streams.video[0]
        ctx = vs.codec_context
        fmt = ctx.format
        if fmt is None or not ctx.width:
            raise InputError(f"input {seq.path(seq.first)}: not a readable picture")
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
    finally:
        container.close()


class SequenceReader(Reader):
    """:class:`vidx.io.reader.Reader` over a :class:`Sequence` (trim, seek, deep frames and
    the bounded queue as for a video; no other streams)."""

    def __init__(self, seq: Sequence, trim: Trim = Trim(), **kwargs: object) -> None:
        self.sequence = seq
        super().__init__(seq.pattern, trim, copy_streams=False, **kwargs)  # type: ignore[arg-type]
        # RGB pictures carry no YUV tags worth keeping (PNG says full range): a video made from
        # them is tagged as one made from a still (BT.709 from 720p up, limited range)
        self.colour = Colour().resolved(
            self.video.codec_context.width, self.video.codec_context.height
        )

    def _open(self, path: Path) -> av.container.InputContainer:
        return open_sequence(self.sequence)

    def _timestamp_source(self) -> str:
        return "pts"  # the demuxer numbers the frames itself
