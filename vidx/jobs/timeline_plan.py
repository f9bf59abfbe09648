"""The plan of an edit as the input (:mod:`vidx.jobs.timeline` renders it): read the edit
(:mod:`vidx.io.edit`), find each video clip's media by its path, then by reel, clip or file
name under the media root, and the source frames it uses; uses of one media that overlap or
touch once their handles are added are merged into one *piece* (two cuts from one take render
once, as one steady shot), clamped to the media. A clip whose media is missing, unreadable or
too short is recorded with a one-line reason and left out of every piece.

Convention: a *source frame* is a frame index in the media file (0 = its first frame); the
edit's timecode frames map to them through the media's start (the edit's available range,
else the file's own timecode, else 0).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidx.errors import InputError, VidxError
from vidx.io.edit import ADAPTERS, EditClip, Link, read_edit, url_path, video_clips
from vidx.io.probe import VideoInfo, open_input, probe
from vidx.io.tracks import source_reel, timecode_rate, to_frames
from vidx.jobs.batch import VIDEO_SUFFIXES
from vidx.jobs.run import frame_rate
from vidx.options import TimelineOptions


@dataclass(frozen=True)
class Media:
    """A media file an edit uses: its frames and where its timecode starts."""

    path: Path
    info: VideoInfo
    rate: Fraction
    frames: int
    start: int | None  # timecode frame of its first frame (None: no timecode)


@dataclass
class ClipPlan:
    """One video clip of the edit: its media and source frames, its piece, or why it has none."""

    clip: EditClip
    media: Path | None = None
    first: int = 0  # first source frame it uses (see the module's convention)
    frames: int = 0
    origin: int = 0  # timecode frame of the media's first frame, as this clip counts it
    piece: int | None = None
    error: str | None = None


@dataclass
class Piece:
    """A range of one media file rendered once for the clips that use it."""

    media: Path
    first: int
    end: int  # one past the last source frame
    used: int  # frames its clips use (handles not counted)
    clips: list[int]
    origin: int  # timecode frame of the media's first frame
    rate: float  # the edit's rate for the clips (the relinked available range counts in it)
    name: str = ""  # the file's stem

    @property
    def frames(self) -> int:
        return self.end - self.first


@dataclass
class TimelinePlan:
    """A checked edit: every clip with its piece or its problem, every piece to render."""

    edit: Path
    timeline: Any  # the edit as OpenTimelineIO reads it
    clips: list[ClipPlan]
    pieces: list[Piece]
    media: dict[Path, Media] = field(default_factory=dict)

    @property
    def missing(self) -> list[ClipPlan]:
        return [c for c in self.clips if c.error is not None]

    @property
    def frames(self) -> int:
        return sum(p.frames for p in self.pieces)


def plan_timeline(
    edit: str | Path, options: TimelineOptions, *, confine: bool = False
) -> TimelinePlan:
    """Read ``edit`` and plan its pieces (see the module's steps); a clip that cannot be
    rendered is recorded with its reason, never raised. The edit itself must be readable.
    ``confine``: media only under the media root (the web UI: an uploaded edit's paths name
    nothing else on the server)."""
    path = Path(edit)
    root = Path(options.media_root) if options.media_root else path.parent
    if not root.is_dir():
        raise InputError(f"media root {root}: no such folder")
    timeline = read_edit(path)
    found = MediaFinder(path.parent, root, confine)
    clips = [found.clip(c) for c in video_clips(timeline)]
    rates = {float(found.media[c.media].rate) for c in clips if c.media is not None}
    if ADAPTERS[path.suffix.lower()] == "cmx_3600" and len(rates) == 1:
        rate = timecode_rate(rates.pop())[0]
        if clips and rate != clips[0].clip.rate:  # an EDL counts in its media's rate
            timeline = read_edit(path, rate)
            clips = [found.clip(c) for c in video_clips(timeline)]
    pieces = merge_pieces(clips, found.media, options)
    return TimelinePlan(path, timeline, clips, pieces, found.media)


class MediaFinder:
    """Finds each clip's media (by path, then by name under the root) and probes it once."""

    def __init__(self, base: Path, root: Path, confine: bool = False) -> None:
        self.base, self.root, self.confine = base, root, confine
        self.media: dict[Path, Media] = {}
        self.failed: dict[Path, str] = {}
        self._names: dict[str, list[Path]] | None = None
        self._reels: dict[str, list[Path]] | None = None

    def names(self) -> dict[str, list[Path]]:
        """The videos under the root by lower-case file name and stem (read once)."""
        if self._names is None:
            self._names = {}
            for p in sorted(self.root.rglob("*")):
                if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() and self.allowed(p):
                    for key in {p.name.lower(), p.stem.lower()}:
                        self._names.setdefault(key, []).append(p)
        return self._names

    def reels(self) -> dict[str, list[Path]]:
        """The videos under the root by the lower-case reel name they carry (read once, when
        a clip is not found by name: every file is opened)."""
        if self._reels is None:
            self._reels = {}
            files = dict.fromkeys(p for paths in self.names().values() for p in paths)
            for p in files:
                try:
                    with open_input(p) as container:
                        reel = source_reel(container)
                except VidxError:
                    continue
                if reel:
                    self._reels.setdefault(reel.lower(), []).append(p)
        return self._reels

    def find(self, clip: EditClip) -> Path | str:
        """The clip's media file: the path its reference names, else a file of that name, of
        its reel name or of its clip name under the root, else the file that carries its reel
        name; or why there is none."""
        named = url_path(clip.url, self.base) if clip.url else None
        if named is not None and named.is_file() and self.allowed(named):
            return named
        keys = [k for k in (named.name if named else None, clip.reel, clip.name) if k]
        if named is not None and clip.name == named.stem:
            keys.remove(clip.name)  # (its own file name was looked for)
        for key in dict.fromkeys(keys):
            hits = self.names().get(key.lower(), [])
            if len(hits) > 1:
                return f"{key!r} names {len(hits)} files under {self.root}"
            if hits:
                return hits[0]
        carried = self.reels().get(clip.reel.lower(), []) if clip.reel else []
        if len(carried) == 1:
            return carried[0]
        if carried:
            return f"reel {clip.reel!r} is carried by {len(carried)} files under {self.root}"
        what = " or ".join(repr(k) for k in dict.fromkeys(keys)) or "no file or reel name"
        return f"no media found for {what} under {self.root}"

    def allowed(self, path: Path) -> bool:
        """Whether media may be read from ``path`` (anywhere, unless confined to the root)."""
        if not self.confine:
            return True
        real, root = Path(os.path.realpath(path)), Path(os.path.realpath(self.root))
        return root in real.parents

    def clip(self, clip: EditClip) -> ClipPlan:
        """``clip`` with its media and source frames, or its error."""
        plan = ClipPlan(clip)
        found = self.find(clip)
        if isinstance(found, str):
            plan.error = found
            return plan
        media = self.probe(found)
        if isinstance(media, str):
            plan.error = media
            return plan
        plan.media = media.path
        starts = [s for s in (clip.media_start, media.start) if s is not None]
        plan.origin = starts[0] if starts else 0  # (the edit's word first, then the file's)
        plan.first = in_media(clip.start - plan.origin, clip.rate, media.rate)
        plan.frames = max(1, in_media(clip.frames, clip.rate, media.rate))
        if plan.first < 0 or plan.first + plan.frames > media.frames:
            last = plan.first + plan.frames - 1
            plan.error = (
                f"uses source frames {plan.first}-{last} of {media.path.name}, which has "
                f"{media.frames} (0-{media.frames - 1})"
            )
        return plan

    def probe(self, path: Path) -> Media | str:
        key = path.resolve()
        if key in self.failed:
            return self.failed[key]
        if key not in self.media:
            try:
                info = probe(key)
                rate = frame_rate(info)
                if not rate or not info.frames:
                    raise InputError(f"{path}: its frame rate or frame count is unknown")
            except VidxError as exc:
                self.failed[key] = str(exc)
                return str(exc)
            start = to_frames(info.timecode, timecode_rate(rate)[0]) if info.timecode else None
            self.media[key] = Media(key, info, rate, info.frames, start)
        return self.media[key]


def in_media(frames: int, rate: float, media_rate: Fraction) -> int:
    """``frames`` of an edit counting at ``rate`` as frames of the media: the same count
    where the rates agree (23.976 material is edited at 24 timecode frames a second)."""
    base = timecode_rate(media_rate)[0]
    if abs(rate - float(media_rate)) < 0.01 or abs(rate - base) < 0.01:
        return frames
    return round(frames * float(media_rate) / rate)


def merge_pieces(
    clips: list[ClipPlan], media: dict[Path, Media], options: TimelineOptions
) -> list[Piece]:
    """One piece per run of uses of one media that overlap or touch with their handles;
    sets each clip's ``piece``. Pieces are named ``STEM_FIRST-LAST`` (``_2`` ... on a clash)."""
    pieces: list[Piece] = []
    by_media: dict[Path, list[ClipPlan]] = {}
    for c in clips:
        if c.error is None and c.media is not None:
            by_media.setdefault(c.media, []).append(c)
    for path, uses in by_media.items():
        m = media[path]
        handles = options.handle_frames(m.rate)
        current: Piece | None = None
        for c in sorted(uses, key=lambda u: u.first):
            a, b = max(0, c.first - handles), min(m.frames, c.first + c.frames + handles)
            if current is None or a > current.end or c.origin != current.origin:
                current = Piece(path, a, b, 0, [], c.origin, c.clip.rate)
                pieces.append(current)
            current.end = max(current.end, b)
            current.clips.append(c.clip.index)
            c.piece = len(pieces) - 1
    taken: dict[str, int] = {}
    for i, p in enumerate(pieces):
        p.used = _covered([(c.first, c.first + c.frames) for c in clips if c.piece == i])
        name = f"{p.media.stem}_{p.first:06d}-{p.end - 1:06d}"
        taken[name] = taken.get(name, 0) + 1
        p.name = name if taken[name] == 1 else f"{name}_{taken[name]}"
    return pieces


def _covered(ranges: list[tuple[int, int]]) -> int:
    """How many frames the union of the ``[a, b)`` ``ranges`` holds."""
    total, end = 0, 0
    for a, b in sorted(ranges):
        a = max(a, end)
        total += max(0, b - a)
        end = max(end, b)
    return total


def piece_link(piece: Piece, path: Path) -> Link:
    """Where a clip of ``piece`` finds it: ``path``, its first frame at the source timecode
    of ``piece.first`` (so every clip's source range stays as it was)."""
    return Link(path, piece.origin + piece.first, piece.frames, piece.rate)
