"""Edits through OpenTimelineIO: read a timeline (.otio, CMX 3600 .edl, Final Cut Pro 7 .xml),
list the video clips it shows and the source frames each uses, and write it back with its
clips pointing at new media.

Convention: a clip's frames are counted in its source range's own rate, in *timecode* frames
(an EDL's source in point 01:00:00:10 at 24 fps is frame 86410), as OpenTimelineIO keeps them.
A clip uses more than its source range where a transition overlaps it (the frames the dissolve
shows of it, :meth:`otio.schema.Clip.visible_range`) and where a speed effect plays it faster
(``LinearTimeWarp``; a freeze frame uses one frame). Audio tracks, gaps, transitions and
markers are never changed: a relink replaces the media reference of video clips only.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from vidx.errors import InputError, OutputError

ADAPTERS = {".otio": "otio_json", ".edl": "cmx_3600", ".xml": "fcp_xml"}
EDL_RATE = 24.0  # an EDL does not say its rate; read at this one until the media say otherwise
EDL_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0)  # tried in turn when a timecode does not fit


@dataclass(frozen=True)
class EditClip:
    """One video clip of an edit: what it shows and where (see the module's convention)."""

    index: int  # among the edit's video clips, track by track, in time order
    track: str  # the track's name (V1, V2 ... when it has none)
    name: str
    reel: str | None  # the EDL's reel name
    url: str | None  # the media reference's target as written, None when it names no file
    rate: float  # of the clip's source range
    start: int  # first source frame it shows (timecode frames, transitions included)
    frames: int  # source frames it uses from ``start`` (transitions and speed included)
    record: int  # where it starts on its track, in frames of ``rate``
    media_start: int | None  # the media's first frame in timecode frames, when the edit says

    @property
    def where(self) -> str:
        """``V1 at 00:00:01:02``: the clip's place, as an editor finds it."""
        tc = otio.opentime.to_timecode(otio.opentime.RationalTime(self.record, self.rate))
        return f"{self.track} at {tc}"


@dataclass(frozen=True)
class Link:
    """New media for a clip: a file whose first frame is source frame ``start`` (timecode
    frames at ``rate``), ``frames`` long."""

    path: Path
    start: int
    frames: int
    rate: float


def adapter_of(path: Path) -> str:
    adapter = ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        kinds = ", ".join(ADAPTERS)
        raise InputError(f"{path}: not an edit vidx reads (it reads {kinds})")
    return adapter


def read_edit(path: str | Path, rate: float | None = None) -> Any:
    """The timeline in ``path``; any failure is one InputError. An EDL is read at ``rate``,
    or (None) at the first of :data:`EDL_RATES` its timecodes fit."""
    p = Path(path)
    adapter = adapter_of(p)
    if not p.is_file():
        raise InputError(f"{p}: no such edit")
    tries: list[dict[str, float]] = [{}]
    if adapter == "cmx_3600":
        tries = [{"rate": r} for r in ((rate,) if rate else EDL_RATES)]
    found = None
    for n, extra in enumerate(tries, 1):
        try:
            found = otio.adapters.read_from_file(str(p), adapter, **extra)
            break
        except Exception as exc:  # noqa: BLE001 - the adapters raise anything on a bad file
            if n == len(tries) or "rate" not in str(exc).lower():
                raise InputError(f"{p}: not a readable {adapter} edit ({exc})") from None
    timeline = found if isinstance(found, otio.schema.Timeline) else None
    if timeline is None and isinstance(found, otio.schema.SerializableCollection):
        timeline = next(iter(found.find_children(descended_from_type=otio.schema.Timeline)), None)
    if timeline is None:
        raise InputError(f"{p}: holds no timeline")
    if adapter == "cmx_3600":
        _dissolve_targets(timeline)
    return timeline


def _dissolve_targets(timeline: Any) -> None:
    """The CMX adapter gives the clip a dissolve leads into the media of the clip before it
    and keeps its own in a ``TO CLIP:`` comment: point it at that media."""
    for clip in clip_objects(timeline):
        comments = clip.metadata.get("cmx_3600", {}).get("comments", [])
        target = [c.split(":", 1)[1].strip() for c in comments if c.startswith("TO CLIP:")]
        if target and isinstance(clip.media_reference, otio.schema.ExternalReference):
            clip.media_reference.target_url = target[-1]


def clip_objects(timeline: Any) -> list[Any]:
    """The video clips of ``timeline``, in :attr:`EditClip.index` order."""
    return [c for track in timeline.video_tracks() for c in track.find_clips()]


def video_clips(timeline: Any) -> list[EditClip]:
    """What each video clip of ``timeline`` shows (see the module's convention)."""
    out = []
    names = {id(t): t.name or f"V{n}" for n, t in enumerate(timeline.video_tracks(), 1)}
    for index, clip in enumerate(clip_objects(timeline)):
        track = clip.parent()
        while (
            track is not None and id(track) not in names
        ):  # (a nested stack's clip: its top track)
            track = track.parent()
        shown = clip.visible_range()
        rate = shown.start_time.rate
        ref = clip.media_reference
        url = getattr(ref, "target_url", None) or None
        available = getattr(ref, "available_range", None)
        media_start = None if available is None else _frames(available.start_time, rate)
        out.append(
            EditClip(
                index=index,
                track=names.get(id(track), "V1"),
                name=clip.name or "",
                reel=clip.metadata.get("cmx_3600", {}).get("reel") or None,
                url=url,
                rate=rate,
                start=_frames(shown.start_time, rate),
                frames=max(1, math.ceil(_frames(shown.duration, rate) * _speed(clip) - 1e-9)),
                record=_frames(clip.range_in_parent().start_time, rate),
                media_start=media_start,
            )
        )
    return out


def _frames(t: Any, rate: float) -> int:
    return round(t.rescaled_to(rate).value)


def _speed(clip: Any) -> float:
    """How many source frames one frame of the clip uses (a freeze frame: none past one)."""
    speed = 1.0
    for effect in clip.effects:
        if isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= abs(effect.time_scalar)
    return speed


def url_path(url: str, base: Path) -> Path | None:
    """The file a media reference's target names (a ``file:`` URL or a path, relative ones
    from ``base``), None for other URLs."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # (a Windows drive letter is no scheme)
        return None
    path = Path(url)
    return path if path.is_absolute() else base / path


def relink(timeline: Any, links: list[Link | str]) -> Any:
    """A copy of ``timeline`` whose video clip ``i`` shows ``links[i]``: new media whose
    available range starts at the piece's source timecode (so every clip keeps its source
    range), or, for a reason text, offline media (a MissingReference that says why)."""
    out = copy.deepcopy(timeline)
    clips = clip_objects(out)
    if len(clips) != len(links):
        raise ValueError(f"{len(links)} links for {len(clips)} video clips")  # a bug in vidx
    for clip, link in zip(clips, links, strict=True):
        old = clip.media_reference
        name = getattr(old, "target_url", None) or old.name or clip.name
        if isinstance(link, str):
            meta = {"vidx": {"status": "offline", "reason": link, "source": name}}
            clip.media_reference = otio.schema.MissingReference(name=name, metadata=meta)
            continue
        available = otio.opentime.TimeRange(
            otio.opentime.RationalTime(link.start, link.rate),
            otio.opentime.RationalTime(link.frames, link.rate),
        )
        clip.media_reference = otio.schema.ExternalReference(
            target_url=link.path.resolve().as_uri(),
            available_range=available,
            metadata={"vidx": {"source": name}},
        )
        clip.media_reference.name = link.path.stem
    return out


def write_edit(timeline: Any, path: Path) -> None:
    """Write ``timeline`` in the format ``path``'s suffix names, whole or not at all."""
    adapter = adapter_of(path)
    part = path.with_name(path.name + ".part")
    try:
        otio.adapters.write_to_file(timeline, str(part), adapter)
        os.replace(part, path)
    except Exception as exc:  # noqa: BLE001 - an adapter's refusal is the output's failure
        part.unlink(missing_ok=True)
        raise OutputError(f"writing {path} failed: {exc}") from None
