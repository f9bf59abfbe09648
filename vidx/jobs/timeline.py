"""An edit as the input: render only the source ranges its video clips use, plus handles, and
hand the edit back relinked (``vidx restyle|upscale|variants --timeline EDIT -o OUTDIR/``).

1. Plan (:func:`vidx.jobs.timeline_plan.plan_timeline`): the pieces, and the clips whose
   media cannot be had, each with its reason.
2. Render (:func:`render_timeline`): each piece is its own resumable job (the batch machinery,
   :func:`vidx.jobs.batch.render_item`: ``FOLDER/STEM_FIRST-LAST.mov``, a finished one kept
   on a second run), trimmed to its frames, so it carries the source timecode of its first
   frame and the media's reel name. Every *look* (one for restyle and upscale, one per
   variant of a job file) renders in the same pass, sharing decode and flow; a piece that
   fails is recorded and the others go on.
3. Relink: the edit is written into each look's folder in its own format and as ``.otio``,
   every video clip pointing at its piece, or at offline media that says why when its piece
   failed or its media is missing (never at the original); audio, gaps, transitions and
   markers are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidx.errors import OptionError, OutputError, VidxError
from vidx.io.edit import ADAPTERS, EditClip, Link, relink, write_edit
from vidx.io.names import check_lengths
from vidx.jobs.batch import VIDEO_SUFFIXES, BatchItem, render_item
from vidx.jobs.run import Target
from vidx.jobs.timeline_plan import Media, Piece, TimelinePlan, piece_link
from vidx.options import JobOptions
from vidx.pipeline import ProgressCallback, say_phase

PIECE_SUFFIX = ".mov"  # holds every codec vidx writes but webm's, the timecode and the reel
OTIO = ".otio"


@dataclass(frozen=True)
class Look:
    """One rendering of the whole edit: a variant's name (None for restyle or upscale), the
    folder its pieces and relinked edit go to, and its options."""

    name: str | None
    folder: Path
    options: JobOptions


@dataclass(frozen=True)
class ClipStatus:
    """How one video clip of the edit ended: ``ok``, ``kept`` (its piece was done by an earlier
    run), ``failed`` (its piece did not render) or ``missing`` (its media)."""

    clip: EditClip
    status: str
    piece: str | None = None  # the piece's file name
    reason: str = ""


@dataclass
class TimelineResult:
    plan: TimelinePlan
    pieces: list[BatchItem] = field(default_factory=list)  # in the plan's piece order
    timelines: list[Path] = field(default_factory=list)  # every relinked edit written
    clips: list[ClipStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every clip has its piece (none failed, no media missing)."""
        return all(c.status in ("ok", "kept") for c in self.clips)


def piece_options(options: JobOptions, piece: Piece, media: Media) -> JobOptions:
    """``options`` trimmed to ``piece``: from half a frame before its first frame (so a
    rounded time never drops it; times count from 0, the media's frames from its first
    timestamp) for exactly its frames."""
    t = options.trim
    given = [n for n in ("start", "duration", "max_frames") if getattr(t, n) not in (0.0, None)]
    if given:
        raise OptionError("is not for an edit: the edit says what each clip uses", param=given[0])
    start = 0.0
    if piece.first:
        start = max(0.0, media.info.start_time + (piece.first - 0.5) / float(media.rate))
    return options.with_values(start=start, max_frames=piece.frames)


def edit_outputs(plan: TimelinePlan, folder: Path) -> list[Path]:
    """The relinked edit in ``folder``: in the input's format, and as ``.otio``."""
    out = [folder / plan.edit.name]
    if plan.edit.suffix.lower() != OTIO:
        out.append(folder / (plan.edit.stem + OTIO))
    return out


def prepare_folders(plan: TimelinePlan, looks: list[Look], output_dir: Path) -> None:
    """Check where everything goes before any work, then make the folders."""
    check_lengths({"output": output_dir})
    named = output_dir.suffix.lower() in (*VIDEO_SUFFIXES, *ADAPTERS)
    if (output_dir.exists() and not output_dir.is_dir()) or (named and not output_dir.exists()):
        raise OutputError(f"output {output_dir} is a file name; --timeline writes into a folder")
    if not output_dir.exists() and not output_dir.parent.is_dir():
        raise OutputError(f"output {output_dir}: the folder {output_dir.parent} does not exist")
    edit = plan.edit.resolve()
    for look in looks:
        for path in edit_outputs(plan, look.folder):
            check_lengths({"output": path})
            if path.resolve() == edit:
                raise OutputError(f"output {path} would replace the edit; choose another -o")
    for look in looks:
        look.folder.mkdir(parents=True, exist_ok=True)


def render_timeline(
    plan: TimelinePlan,
    looks: list[Look],
    output_dir: Path,
    reads: list[Path] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_piece: Callable[[BatchItem], None] | None = None,
    command: str = "vidx.render_timeline",
) -> TimelineResult:
    """Render every piece of ``plan`` for every look, then write each look's relinked edit
    (see the module's steps). Never raises for one piece or one clip: check ``result.ok``."""
    targets = [
        [
            Target(
                look.folder / (p.name + PIECE_SUFFIX),
                piece_options(look.options, p, plan.media[p.media]),
                name=look.name or "main",
            )
            for look in looks
        ]
        for p in plan.pieces
    ]
    prepare_folders(plan, looks, output_dir)
    result = TimelineResult(plan)
    for n, (piece, jobs) in enumerate(zip(plan.pieces, targets, strict=True), 1):
        last = piece.end - 1
        say_phase(
            on_progress,
            f"piece {n}/{len(plan.pieces)}: {piece.media.name} frames {piece.first}-{last} "
            f"({piece.frames}) -> {jobs[0].path.name}",
        )
        item = render_item(
            BatchItem(piece.media, jobs[0].path),
            jobs,
            reads or [],
            on_progress=on_progress,
            command=command,
        )
        result.pieces.append(item)
        if on_piece is not None:
            on_piece(item)
    result.clips = clip_statuses(plan, result.pieces)
    for look in looks:
        links = clip_links(plan, result.pieces, look.folder)
        relinked = relink(plan.timeline, links)
        for path in edit_outputs(plan, look.folder):
            write_edit(relinked, path)
            result.timelines.append(path)
    return result


def clip_statuses(plan: TimelinePlan, items: list[BatchItem]) -> list[ClipStatus]:
    out = []
    for c in plan.clips:
        if c.piece is None:
            out.append(ClipStatus(c.clip, "missing", reason=c.error or "no media"))
            continue
        item = items[c.piece]
        reason = why(item.error) if item.status == "failed" else ""
        out.append(ClipStatus(c.clip, item.status, item.output.name, reason))
    return out


def clip_links(plan: TimelinePlan, items: list[BatchItem], folder: Path) -> list[Link | str]:
    """Each video clip's new media in ``folder``, or why it is offline."""
    links: list[Link | str] = []
    for c in plan.clips:
        if c.piece is None:
            links.append(f"media missing: {c.error}")
        elif items[c.piece].status == "failed":
            links.append(f"piece failed: {why(items[c.piece].error)}")
        else:
            piece = plan.pieces[c.piece]
            links.append(piece_link(piece, folder / (piece.name + PIECE_SUFFIX)))
    return links


def why(error: BaseException | None) -> str:
    if error is None:
        return ""
    if isinstance(error, VidxError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"
