"""The Python API: what the ``vidx`` commands do, callable from a notebook or a script.

Options are keyword arguments named as in :mod:`vidx.options` (the CLI flags without ``--``,
dashes as underscores), or a whole :class:`~vidx.options.JobOptions`; both give the same
checks, defaults, outputs and sidecars as the CLI. Errors are :class:`vidx.errors.VidxError`
subclasses with one-line messages; nothing prints, progress goes to ``on_progress``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidx.errors import OptionError
from vidx.io.inputs import check_regular_file
from vidx.io.lock import OutputLock
from vidx.io.probe import VideoInfo
from vidx.jobs.jobfile import load_job
from vidx.jobs.run import RunPlan, Target, execute, frame_rate, plan, plan_preview, run_plan
from vidx.jobs.variants import variant_targets
from vidx.options import JobOptions, TimelineOptions
from vidx.pipeline import JobResult, ProgressCallback

if TYPE_CHECKING:
    from vidx.jobs.batch import BatchItem, BatchResult
    from vidx.jobs.timeline import Look, TimelineResult
    from vidx.jobs.timeline_plan import TimelinePlan


def _options(options: JobOptions | None, values: dict[str, Any]) -> JobOptions:
    base = options or JobOptions()
    return base.with_values(**values) if values else base


def render(
    input: str | Path,
    output: str | Path,
    options: JobOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    command: str = "vidx.render",
    **values: Any,
) -> JobResult:
    """Restyle and/or upscale ``input`` into ``output`` (a video, or a picture for a picture).

    ``values`` override ``options`` (e.g. ``style="3", strength=0.5, size="4k"``). A video job
    runs in resumable segments unless ``segment_frames=0``: calling it again after a crash
    continues where it stopped. ``command`` describes this run to a second one refused by the
    output's lock.
    """
    job = plan(input, [Target(Path(output), _options(options, values))])
    return execute(job, on_progress=on_progress, command=command)


def job_plan(
    input: str | Path,
    output: str | Path,
    options: JobOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    **values: Any,
) -> RunPlan:
    """How :func:`render` would run the same job (its segments, carried or primed, scene
    cuts, side by side, Ray), checked as :func:`render` checks it, rendering nothing."""
    opts = _options(options, values).with_values(plan=False)
    return run_plan(plan(input, [Target(Path(output), opts)]), on_progress)


def render_batch(
    inputs: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    options: JobOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
    command: str = "vidx.render_batch",
    **values: Any,
) -> BatchResult:
    """Render several inputs (files, or folders of videos and pictures) into ``output_dir``,
    each as its own resumable job with the same options (see :mod:`vidx.jobs.batch`). A file that
    fails is recorded with its reason and the others go on: check ``result.ok``."""
    from vidx.jobs.batch import render_batch as run_batch

    files = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    opts = _options(options, values)
    return run_batch(
        files, output_dir, opts, on_progress=on_progress, on_item=on_item, command=command
    )


def variants(
    input: str | Path,
    job: str | Path,
    output_dir: str | Path,
    *,
    on_progress: ProgressCallback | None = None,
    command: str = "vidx.jobs.variants",
    **values: Any,
) -> JobResult:
    """Every ``[variants.NAME]`` of the TOML ``job`` file as ``OUTPUT_DIR/NAME.mp4``, in one
    pass (decoding and flow shared). ``values`` (e.g. ``overwrite=True``) override the job."""
    parsed = load_job(job)
    outdir = Path(output_dir)
    targets = variant_targets(parsed, outdir, values)
    checked = plan(input, targets, reads=[parsed.path], make_folder=outdir)
    return execute(checked, on_progress=on_progress, command=command)


def timeline_plan(edit: str | Path, *, confine: bool = False, **values: Any) -> TimelinePlan:
    """What :func:`render_timeline` would render of ``edit`` (.otio, .edl, .xml): its pieces
    (source ranges plus handles, merged per media) and the clips whose media cannot be had,
    each with its reason. ``values``: ``media_root``, ``handles``; ``confine``: media only
    under the media root, whatever paths the edit names."""
    from vidx.jobs.timeline_plan import plan_timeline

    options = TimelineOptions.from_flat(_edit_values(values))
    return plan_timeline(edit, options, confine=confine)


def render_timeline(
    edit: str | Path,
    output_dir: str | Path,
    options: JobOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_piece: Callable[[BatchItem], None] | None = None,
    command: str = "vidx.render_timeline",
    confine: bool = False,
    **values: Any,
) -> TimelineResult:
    """Restyle and/or upscale only what ``edit`` uses (plus ``handles``), each piece its own
    resumable job, and write the edit back relinked into ``output_dir`` (see
    :mod:`vidx.jobs.timeline`). ``values`` are job options and ``media_root``, ``handles``.
    A missing media file or a failed piece is an offline clip: check ``result.ok``.
    ``confine``: media only under the media root (see :func:`timeline_plan`)."""
    from vidx.jobs.timeline import Look
    from vidx.jobs.timeline import render_timeline as run_timeline

    edit_values = _edit_values(values)
    opts = _options(options, {k: v for k, v in values.items() if k not in edit_values})
    outdir = Path(output_dir)
    looks = _no_plan([Look(None, outdir, opts)])
    plan = timeline_plan(edit, confine=confine, **edit_values)
    return run_timeline(
        plan, looks, outdir, on_progress=on_progress, on_piece=on_piece, command=command
    )


def timeline_variants(
    edit: str | Path,
    job: str | Path,
    output_dir: str | Path,
    *,
    on_progress: ProgressCallback | None = None,
    on_piece: Callable[[BatchItem], None] | None = None,
    command: str = "vidx.jobs.variants",
    confine: bool = False,
    **values: Any,
) -> TimelineResult:
    """Every ``[variants.NAME]`` of the TOML ``job`` file over the pieces of ``edit``: each
    piece renders every variant in one pass, and ``OUTPUT_DIR/NAME/`` gets that variant's
    pieces and relinked edit."""
    from vidx.jobs.timeline import Look
    from vidx.jobs.timeline import render_timeline as run_timeline
    from vidx.jobs.variants import variant_options

    parsed = load_job(job)
    edit_values = _edit_values(values)
    overrides = {k: v for k, v in values.items() if k not in edit_values}
    outdir = Path(output_dir)
    looks = _no_plan(
        [Look(name, outdir / name, o) for name, o in variant_options(parsed, overrides).items()]
    )
    plan = timeline_plan(edit, confine=confine, **edit_values)
    return run_timeline(
        plan,
        looks,
        outdir,
        [parsed.path],
        on_progress=on_progress,
        on_piece=on_piece,
        command=command,
    )


def _edit_values(values: dict[str, Any]) -> dict[str, Any]:
    """The options of the edit among ``values`` (the edit itself is the first argument)."""
    if "timeline" in values:
        raise OptionError("is the edit: pass it as the first argument", param="timeline")
    edit = {k: v for k, v in values.items() if k in TimelineOptions.names()}
    if isinstance(edit.get("media_root"), Path):
        edit["media_root"] = str(edit["media_root"])  # (a path as the CLI gives it: text)
    return edit


def _no_plan(looks: list[Look]) -> list[Look]:
    if any(look.options.run.plan for look in looks):
        raise OptionError(
            "asks for the plan only: vidx.api.timeline_plan() returns it", param="plan"
        )
    return looks


def preview(
    input: str | Path,
    output: str | Path,
    options: JobOptions | None = None,
    *,
    vary: dict[str, list] | None = None,
    frames: int = 3,
    cell_width: int = 320,
    command: str = "vidx.jobs.preview",
    **values: Any,
) -> dict:
    """A labelled contact sheet: a few frames of ``input`` restyled at each value of one list
    in ``vary`` (``strength``, ``style``, ``seed``, ``prompt``, ``lora`` or
    ``ip_adapter_scale``); returns its summary."""
    from vidx.jobs.preview import plan_rows, run_preview

    opts = _options(options, values)
    if not opts.restyle.active:
        opts = opts.with_values(style="0")
    plan_rows(opts.restyle, vary or {}, frames, cell_width)  # every option, before any file
    job = plan_preview(input, output, opts)
    rate = frame_rate(job.info)
    with OutputLock([job.targets[0].path], command=command):
        return run_preview(
            job.input,
            job.targets[0].path,
            job.targets[0].options.restyle,  # (a prompt schedule's times now in frames)
            vary or {},
            opts.device,
            frames=frames,
            cell_width=cell_width,
            rate=float(rate) if rate else None,
        )


def probe(path: str | Path, *, fps: float | str | None = None) -> VideoInfo:
    """Size, rotation, codec, bit depth, timing, frame count and streams of a video (or of a
    picture, read as a one-frame clip; its size comes from the header first; or of an image
    sequence, ``frames/%06d.png`` or a folder, read at ``fps``, default 24)."""
    from vidx.io.image_sequence import DEFAULT_RATE, find_sequence, is_sequence_input, sequence_info
    from vidx.io.images import is_image_path, still_info
    from vidx.io.inputs import check_image_file
    from vidx.io.probe import probe as probe_file
    from vidx.options import parse_rate

    rate = DEFAULT_RATE if fps is None else parse_rate(fps)
    if is_sequence_input(path):
        return sequence_info(find_sequence(path, rate))
    check_regular_file(Path(path), "input")
    if is_image_path(path):
        check_image_file(Path(path))
        return still_info(path)
    return probe_file(path)


def metrics(
    source: str | Path,
    output: str | Path,
    *,
    max_frames: int | None = None,
    reference: str | Path | None = None,
) -> dict:
    """Warping error of ``output`` (flow and masks from ``source``); with ``reference`` (a
    per-frame render) also detail retention and fidelity. See
    :func:`vidx.jobs.clip_metrics.clip_metrics`."""
    from vidx.jobs.clip_metrics import clip_metrics

    for path in (source, output, *([reference] if reference else [])):
        check_regular_file(Path(path), "input")
    if reference is None:
        return clip_metrics(source, output, max_frames=max_frames)
    return clip_metrics(source, output, max_frames=max_frames, reference=reference)


def style_gallery(
    input: str | Path, output: str | Path, *, overwrite: bool = False, **kwargs: Any
) -> Path:
    """One labelled thumbnail per embedded style, on a frame of ``input``."""
    from vidx.jobs.gallery import style_gallery as gallery

    check_regular_file(Path(input), "input")
    with OutputLock([Path(output)], command="vidx styles --gallery"):
        return gallery(input, output, overwrite=overwrite, **kwargs)
