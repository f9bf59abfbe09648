"""Batches: several inputs, or a folder of them, into one output folder, each file its own job.

Each input goes through the one job path (:func:`vidx.jobs.run.plan` then
:func:`vidx.jobs.run.execute`) with the same options, so each is checked before any of its
work, resumable in its own
``OUTPUT.parts/`` and sidecar'd. A file that fails is recorded with its reason and the batch
goes on; an interrupt (Ctrl-C, SIGTERM) stops the whole batch. An output that already exists
with its sidecar is a finished job of an earlier run and is kept (reported as ``kept``), so
running the same batch again after a crash finishes it.

Convention: ``OUTDIR/STEM.EXT``, EXT the input's own when it is a video container that holds
the codec (``.mp4`` or ``.mov`` otherwise), a picture's own for a picture; names that would
repeat get ``STEM_1.EXT``, ``STEM_2.EXT``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vidx.errors import OptionError, OutputError, VidxError
from vidx.io.images import is_image_path
from vidx.io.names import check_lengths
from vidx.io.sidecar import sidecar_path
from vidx.io.writer import CONTAINER_CODECS, FORMATS
from vidx.jobs.run import Target, execute, plan
from vidx.options import JobOptions
from vidx.pipeline import JobResult, ProgressCallback, say_phase

VIDEO_SUFFIXES = (
    *FORMATS,
    ".avi",
    ".mts",
    ".m2ts",
    ".ts",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ogv",
    ".y4m",
    ".dv",
)
STATUSES = ("ok", "kept", "failed")


@dataclass
class BatchItem:
    """One input of a batch: where it went and how it ended (``ok``, ``kept``: done by an
    earlier run, ``failed``: ``error`` says why)."""

    input: Path
    output: Path
    status: str = "failed"
    result: JobResult | None = None
    error: BaseException | None = None

    @property
    def reason(self) -> str:
        if self.error is None:
            return ""
        if isinstance(self.error, VidxError):
            return str(self.error)
        return f"unexpected {type(self.error).__name__}: {self.error}"


@dataclass
class BatchResult:
    items: list[BatchItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every input succeeded (or was already done)."""
        return all(i.status != "failed" for i in self.items)

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "failed"]


def batch_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """The files of a batch: each input file, and the videos and pictures in each folder
    (sorted, hidden files left out, not recursive). A folder with none is an OptionError."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if os.path.isdir(item):  # (False, not OSError, for a name too long to look up)
            found = sorted(
                p
                for p in item.iterdir()
                if not p.name.startswith(".")
                and (p.suffix.lower() in VIDEO_SUFFIXES or is_image_path(p))
                and not p.name.endswith(".part")
            )
            if not found:
                raise OptionError(f"the folder {item} holds no video or picture", param="input")
            out += found
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def output_suffix(src: Path, codec: str) -> str:
    """The output extension for ``src`` (see the module's convention)."""
    if is_image_path(src):
        return src.suffix
    fmt = FORMATS.get(src.suffix.lower())
    if fmt is not None and codec in CONTAINER_CODECS[fmt]:
        return src.suffix
    return ".mp4" if codec in CONTAINER_CODECS["mp4"] else ".mov"


def batch_outputs(inputs: list[Path], output_dir: Path, codec: str) -> list[Path]:
    """``OUTDIR/STEM.EXT`` for each input; where two would share a name, ``STEM_1.EXT``,
    ``STEM_2.EXT`` ... in input order."""
    names = [src.stem + output_suffix(src, codec) for src in inputs]
    counts = {n: names.count(n) for n in names}
    taken: dict[str, int] = {}
    out = []
    for n in names:
        if counts[n] > 1:
            taken[n] = taken.get(n, 0) + 1
            n = f"{Path(n).stem}_{taken[n]}{Path(n).suffix}"
        out.append(output_dir / n)
    return out


def render_batch(
    inputs: Iterable[str | Path],
    output_dir: str | Path,
    options: JobOptions,
    *,
    on_progress: ProgressCallback | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
    command: str = "vidx.render_batch",
) -> BatchResult:
    """Render every input into ``output_dir`` (created if missing; its parent must exist) as
    its own job; ``on_item`` hears of each input when it ends. Never raises for one file."""
    outdir = Path(output_dir)
    check_lengths({"output": outdir})
    files = batch_inputs(inputs)  # (before the folder is made: a refusal writes nothing)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"output {outdir} is a file; a batch writes into a folder")
    if not outdir.exists():
        if not outdir.parent.is_dir():
            raise OutputError(f"output {outdir}: the folder {outdir.parent} does not exist")
        outdir.mkdir()
    result = BatchResult()
    outputs = batch_outputs(files, outdir, options.encode.codec)
    for n, (src, out) in enumerate(zip(files, outputs, strict=True), 1):
        item = BatchItem(src, out)
        say_phase(on_progress, f"file {n}/{len(files)}: {src.name} -> {out}")
        render_item(item, [Target(out, options)], on_progress=on_progress, command=command)
        result.items.append(item)
        if on_item is not None:
            on_item(item)
    return result


def render_item(
    item: BatchItem,
    targets: list[Target],
    reads: Iterable[Path] = (),
    *,
    on_progress: ProgressCallback | None = None,
    command: str = "vidx.render_batch",
) -> BatchItem:
    """Render ``item.input`` to ``targets`` as one job (:func:`vidx.jobs.run.plan` then
    :func:`~vidx.jobs.run.execute`). Unless ``overwrite`` is on, a target whose output is
    there with its sidecar is a finished job of an earlier run and is left out; with none
    left the item is ``kept``. Records how it ended in ``item``; never raises for the job's
    own failure (an interrupt still stops everything)."""
    try:
        todo = targets
        if not targets[0].options.run.overwrite:  # (os.path.exists never raises)
            todo = [
                t
                for t in targets
                if not (os.path.exists(t.path) and os.path.exists(sidecar_path(t.path)))
            ]
        if not todo:
            item.status = "kept"
        else:
            job = plan(item.input, todo, reads)
            item.result = execute(job, on_progress=on_progress, command=command)
            item.status = "ok"
    except Exception as exc:  # noqa: BLE001 - one file's failure is its own line
        item.error = exc
    return item
