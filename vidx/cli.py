"""The ``vidx`` command line: a thin layer over :mod:`vidx.api`.

Its option flags are derived from :mod:`vidx.options` (one flag per option, help text and panel
from the declaration); a command only parses, calls the API and renders progress and errors.
Errors the user can cause are one line on stderr and exit code 2; SIGINT, SIGTERM and SIGHUP
stop the job cleanly (exit 130, 143, 129).
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidx import console
from vidx.errors import OptionError, VidxError
from vidx.options import (
    GROUPS,
    IO,
    DeviceOptions,
    EncodeOptions,
    InputOptions,
    JobOptions,
    Opt,
    OptionGroup,
    RestyleOptions,
    RunOptions,
    SizeOptions,
    TimelineOptions,
    TrimOptions,
    UpscaleOptions,
    default_of,
    every_option,
    hints,
)
from vidx.version import __version__

if TYPE_CHECKING:
    from vidx.io.edit import EditClip
    from vidx.io.probe import VideoInfo
    from vidx.jobs.batch import BatchItem, BatchResult
    from vidx.jobs.run import RunPlan
    from vidx.jobs.timeline import TimelineResult
    from vidx.jobs.timeline_plan import TimelinePlan
    from vidx.pipeline import JobResult
    from vidx.pipeline import Progress as PipelineProgress

app = typer.Typer(
    name="vidx",
    help="Restyle and upscale video frame by frame, steady over time, audio and timing intact.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)
out = Console(soft_wrap=True)
VERBOSE = {"on": bool(os.environ.get("VIDX_VERBOSE"))}


# Flags, derived from the option declarations ------------------------------------------------

EXTRA_FLAGS = {"output": "-o", "input": "INPUT", "job": "--job", "frames": "--frames"}


def flag(name: str) -> str:
    """How the CLI spells the library's parameter ``name`` (the one table errors go through)."""
    if name in EXTRA_FLAGS:
        return EXTRA_FLAGS[name]
    known = every_option().get(name)
    custom = Opt.of(known[1]).flag if known else None
    return custom or "--" + name.replace("_", "-")


def option_param(name: str, extra: tuple[str, ...] = (), **change: Any) -> inspect.Parameter:
    """The typer parameter of option ``name``; ``extra``: further spellings of its flag on one
    command; ``change`` may set ``annotation``, ``default`` or ``help`` (preview takes lists
    where a render takes one value)."""
    cls, f = every_option()[name]
    meta = Opt.of(f)
    annotation = change.get("annotation", hints(cls)[name])
    if name == "style" and "annotation" not in change:
        annotation = str | None  # a job file's integer style is a string here
    default = change.get("default", default_of(f))
    if typing.get_origin(annotation) is tuple:  # a repeatable flag (--lora A --lora B)
        item = typing.get_args(annotation)[0]
        annotation = list[item]  # type: ignore[valid-type]
    elif "annotation" not in change and str in typing.get_args(annotation):
        # a number or text (--start 1.5, 00:01:30, 120f): text here, the option parses it
        annotation = str | None if type(None) in typing.get_args(annotation) else str
    text = escape(change.get("help", meta.help))  # help renders literally ("[shared]")
    names = flag(name)
    if annotation is bool:  # a switch: --temporal / --no-temporal
        names = f"{names}/--no-{names.removeprefix('--')}"
    info = typer.Option(names, *meta.aliases, *extra, help=text, rich_help_panel=meta.panel)
    return keyword(name, annotation, default, info)


def keyword(name: str, annotation: Any, default: Any, info: Any) -> inspect.Parameter:
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(name, kind, default=default, annotation=Annotated[annotation, info])


def group_names(*groups: type[OptionGroup]) -> list[str]:
    return [n for g in groups for n in g.names()]


def command(
    params: list[inspect.Parameter], name: str | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``body(**values)`` as a command whose parameters are ``params``."""

    def register(body: Callable[..., None]) -> Callable[..., None]:
        def wrapper(**values: Any) -> None:
            body(**values)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.__doc__ = body.__doc__
        wrapper.__name__ = body.__name__
        app.command(name or body.__name__.replace("_", "-"))(wrapper)
        return body

    return register


def positional(name: str, annotation: Any, help: str) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[annotation, typer.Argument(help=help)],
    )


def plain(name: str, annotation: Any, default: Any, *flags: str, help: str) -> inspect.Parameter:
    info = typer.Option(*(flags or (flag(name),)), help=escape(help), rich_help_panel=IO)
    return keyword(name, annotation, default, info)


INPUT = positional("input", Path, "Input video or picture (any format FFmpeg reads).")
OUTPUT = plain("output", Path, ..., "-o", "--output", help="Output file (.mp4/.mov/.mkv/.webm).")
INPUTS = inspect.Parameter(
    "input",
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    default=None,
    annotation=Annotated[
        list[Path] | None,
        typer.Argument(
            help="Input videos or pictures, or folders of them (several: a batch); an image "
            "sequence (frames/%06d.png, or one folder into a file). None with --timeline.",
            show_default=False,
        ),
    ],
)
OUTPUT_OR_DIR = plain(
    "output",
    str,
    ...,
    "-o",
    "--output",
    help="Output file (.mp4/.mov/.mkv/.webm/.mxf), an image sequence (out/%06d.png, .tif, "
    ".exr, .dpx), or a folder (OUTDIR/) for a batch or --timeline.",
)


# Rendering: errors, warnings, progress -------------------------------------------------------


def fail(message: str, code: int = 2) -> None:
    console.log(f"error: {message}")
    err.print(
        f"[bold red]vidx: error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def warn(message: str) -> None:
    console.log(f"warning: {message}")
    err.print(f"[yellow]vidx: warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def say(text: str) -> None:
    """A plain line on stderr (none with -q) and in the --log file."""
    console.log(text)
    if not console.quiet():
        err.print(text, markup=False, highlight=False, soft_wrap=True)


def message(exc: VidxError) -> str:
    if isinstance(exc, OptionError) and exc.param:
        return exc.named(flag(exc.param))
    return str(exc)


@contextmanager
def user_errors(outputs: tuple[Path, ...] = ()) -> Iterator[None]:
    """Every VidxError becomes one line and exit 2; a signal stops the job cleanly; anything
    else is a bug: one line and exit 1 (a traceback with VIDX_DEBUG=1)."""
    from vidx.jobs.interrupt import Terminated, terminate_as_interrupt
    from vidx.quiet import quiet_libraries

    try:
        with terminate_as_interrupt(), quiet_libraries(VERBOSE["on"]) as noise:
            try:
                yield
            finally:
                for line in noise:
                    warn(line)
    except typer.Exit:
        raise
    except VidxError as exc:
        fail(message(exc))
    except KeyboardInterrupt as exc:
        code = exc.exit_code if isinstance(exc, Terminated) else 130
        fail(f"{stopped(exc)}; {kept(outputs)}", code=code)
    except Exception as exc:  # a bug: one line, a traceback only when asked for
        if os.environ.get("VIDX_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set VIDX_DEBUG=1 for a traceback)", code=1)


def stopped(exc: KeyboardInterrupt) -> str:
    import signal

    signum = getattr(exc, "signum", None)
    return f"stopped by {signal.Signals(signum).name}" if signum else "interrupted"


def kept(outputs: tuple[Path, ...]) -> str:
    from vidx.jobs.segments import parts_dir
    from vidx.jobs.sequence_job import manifest_path

    parts = [str(parts_dir(p)) for p in outputs if parts_dir(p).is_dir()]
    frames = [str(p.parent) for p in outputs if manifest_path(p).is_file()]
    if parts or frames:
        what = "segments" if parts else "frames"
        return (
            f"partial output removed; finished {what} kept in {', '.join(parts + frames)}: run "
            "the same command to resume"
        )
    return "partial output removed"


@contextmanager
def progress_bar(label: str) -> Iterator[Callable]:
    """Progress on stderr, yielding the library's callback: a rich bar (frames, fps, ETA) on a
    terminal or with VIDX_PROGRESS, else a plain line every few seconds (see vidx.console);
    nothing with -q. Phase messages show in the bar or as lines; all of it goes to --log."""
    every = console.progress_interval()
    logged = None
    if console.STATE["log"]:
        logged = console.PlainProgress(label, console.log, every or console.DEFAULT_INTERVAL)
    if console.quiet():
        yield console.fan_out(logged)
        return
    if not err.is_terminal and not os.environ.get("VIDX_PROGRESS"):
        plain = None
        if every is not None:
            plain = console.PlainProgress(label, lambda line: err.print(line, markup=False), every)
        yield console.fan_out(plain, logged)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} fps"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None, fps=0.0)

        def update(p: PipelineProgress) -> None:
            if p.phase:
                bar.update(task, description=f"{label}: {p.phase}")
                return
            workers = console.worker_text(p)
            text = f"{label} ({workers})" if workers else label
            bar.update(task, completed=p.done, total=p.total, fps=p.fps, description=text)

        yield console.fan_out(update, logged)


def report(result: JobResult) -> None:
    for w in result.warnings:
        warn(w)
    t = result.timings
    fps = result.frames / t.total if t.total else 0.0
    for path in result.outputs:
        say(f"wrote {path} ({result.frames} frames, {t.total:.1f}s, {fps:.2f} fps)")


def command_line() -> str:
    return shlex.join(["vidx", *sys.argv[1:]])


def given(values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The option values the user changed from their defaults (the API fills in the rest)."""
    everything = every_option()
    for n in names:
        if isinstance(default_of(everything[n][1]), tuple):  # a repeatable flag: list or None
            values[n] = tuple(values[n] or ())
    return {n: values[n] for n in names if values[n] != default_of(everything[n][1])}


# Commands -------------------------------------------------------------------------------------


EDIT = TimelineOptions.names()
UPSCALE = group_names(
    TrimOptions, SizeOptions, UpscaleOptions, EncodeOptions, DeviceOptions, InputOptions, RunOptions
)
RESTYLE = group_names(*GROUPS)


def render_command(
    label: str, inputs: list[Path] | None, output: str, values: dict[str, Any]
) -> None:
    """One job, a batch (several inputs, a folder, or ``-o OUTDIR/``) or an edit
    (``--timeline``)."""
    if "timeline" in values or not inputs:
        timeline_command(label, inputs, Path(output), values)
        return
    for name in EDIT:
        if name in values and TimelineOptions.from_flat({name: values[name]}) != TimelineOptions():
            fail(f"{flag(name)} is for --timeline")  # ("12" is --handles's default, 12)
        values.pop(name, None)
    with user_errors():
        # the options are checked as the API checks them, before it (and torch) is imported:
        # a mistyped value is refused at once, not after seconds of start-up
        options = JobOptions().with_values(**values)
        # a folder: OUTDIR/, or an existing folder with no extension (out.mp4/ stays a mistake);
        # os.path.isdir, which never raises: a name too long to look up is no folder, and the
        # job refuses it in one line
        folder = output.endswith(("/", os.sep))
        folder = folder or (os.path.isdir(output) and not Path(output).suffix)
        # one folder into a file or a pattern is an image sequence (see vidx.io.image_sequence)
        sequence = len(inputs) == 1 and bool(Path(output).suffix) and not folder
        many = len(inputs) > 1 or (any(os.path.isdir(p) for p in inputs) and not sequence)
    if many or folder:
        if values.get("plan"):
            fail("--plan shows the plan of one job: give one input and one output file")
        batch_command(label, inputs, Path(output), values)
        return
    out = Path(output)
    if values.get("plan") or VERBOSE["on"]:
        shown = plan_command(inputs[0], out, values)
        if values.get("plan"):
            for line in shown:
                typer.echo(line)
            return
        for line in shown:
            say(line)
    from vidx.api import render

    with user_errors((out,)):
        with progress_bar(label) as cb:
            result = render(inputs[0], out, options, on_progress=cb, command=command_line())
        report(result)


def plan_command(input: Path, output: Path, values: dict[str, Any]) -> list[str]:
    """The job's plan (:func:`vidx.api.job_plan`), as lines."""
    from vidx.api import job_plan

    with user_errors():
        return plan_lines(job_plan(input, output, **values))


def plan_lines(plan: RunPlan) -> list[str]:
    """How a job will be cut: a summary, then one line per segment (frames, source times,
    how it starts)."""
    outputs = ", ".join(str(p) for p in plan.outputs)
    head = f"plan: {plan.input} -> {outputs}"
    s = plan.segments
    if s is None:
        return [f"{head}: one piece ({plan.whole}), in this process"]
    lines = [f"{head}: {len(s.segments)} segments, {s.frames} frames"]
    if s.two_pass:
        lines.append(
            "  two passes: each segment's keyframe first (tied to the keyframe before), then "
            "every segment from its keyframe toward the next (independent)"
        )
    elif s.carried:
        lines.append("  carried: each segment goes on from the end state of the one before")
    elif any(seg.warmup_start is not None for seg in s.segments):
        lines.append("  primed: each segment warms up on the frames before it (independent)")
    else:
        lines.append("  independent: each segment starts fresh (no temporal state)")
    if s.cuts is not None:
        at = ", ".join(map(str, s.cuts)) or "none found"
        lines.append(f"  scene cuts (a segment starts fresh at each): {at}")
    if plan.ray is not None:
        chains = "one chain per shot, shots side by side" if s.carried else "side by side"
        if s.two_pass:
            chains = "keyframes in order per shot, then segments side by side"
        lines.append(f"  on Ray ({plan.ray}): {chains}")
    elif s.side_by_side > 1:
        lines.append(f"  in this process, {s.side_by_side} segments side by side")
    elif s.two_pass:
        lines.append("  in this process: the keyframes, then the segments, one after another")
    else:
        lines.append(
            "  in this process, one after another (chained)"
            if s.carried
            else "  in this process, one after another"
        )
    for seg in s.segments:
        end = "end" if seg.end is None else f"{seg.end:.3f}"
        if seg.index == 0 or seg.at_cut:
            how = "starts fresh at a scene cut" if seg.at_cut else "starts fresh"
        elif s.two_pass:
            how = "from its keyframe, tied to the one before"
        elif s.carried:
            how = "carried from the one before"
        elif seg.warmup_start is not None:
            how = f"primed from {seg.warmup_start:.3f} s"
        else:
            how = "starts fresh"
        last = seg.first + seg.frames - 1
        lines.append(
            f"  segment {seg.index}: frames {seg.first}-{last} ({seg.frames}), "
            f"{seg.start:.3f}-{end} s, {how}"
        )
    return lines


def batch_command(label: str, inputs: list[Path], outdir: Path, values: dict[str, Any]) -> None:
    """Each input its own job into ``outdir``; a summary line per input; exit 1 if any failed."""
    from vidx.api import render_batch

    def done(item: BatchItem) -> None:
        if item.result is not None:
            report(item.result)

    with user_errors():
        with progress_bar(label) as cb:
            result = render_batch(
                inputs, outdir, on_progress=cb, on_item=done, command=command_line(), **values
            )
    summary(result)
    if not result.ok:
        raise typer.Exit(1)


def summary(result: BatchResult) -> None:
    """The batch's table: one line per input (ok, kept: done before, failed: why)."""
    items = result.items
    good = len(items) - len(result.failed)
    failed = f", {len(result.failed)} failed" if result.failed else ""
    say(f"batch: {good} of {len(items)} done{failed}")
    for item in items:
        if item.status == "failed":
            why = message(item.error) if isinstance(item.error, VidxError) else item.reason
            why = why.removeprefix(f"{item.input}: ")  # (the line names the input already)
            line = f"  failed  {item.input}: {why}"
            console.log(line)
            err.print(line, markup=False, highlight=False, soft_wrap=True)
        elif item.status == "kept":
            say(f"  kept    {item.input} -> {item.output} (done by an earlier run)")
        else:
            r = item.result
            frames = f" ({r.frames} frames, {r.timings.total:.1f}s)" if r is not None else ""
            say(f"  ok      {item.input} -> {item.output}{frames}")


def timeline_command(
    label: str,
    inputs: list[Path] | None,
    outdir: Path,
    values: dict[str, Any],
    job: Path | None = None,
) -> None:
    """An edit (``--timeline``): its dry run (``--plan``/``--dry-run``), or its pieces rendered
    and the edit written back relinked; a summary line per clip; exit 1 if any is offline."""
    from vidx.api import render_timeline, timeline_plan, timeline_variants

    edit = values.pop("timeline", None)
    if edit is None:
        fail("give an INPUT, or --timeline EDIT")
    if inputs:
        fail("--timeline renders the edit's own media: give no INPUT (--media-root says where)")
    if values.pop("plan", False):
        with user_errors():
            plan = timeline_plan(edit, **{k: v for k, v in values.items() if k in EDIT})
        for line in timeline_plan_lines(plan):
            typer.echo(line)
        if plan.missing:
            raise typer.Exit(1)
        return

    def done(item: BatchItem) -> None:
        if item.result is not None:
            report(item.result)

    with user_errors():
        with progress_bar(label) as cb:
            more = dict(on_progress=cb, on_piece=done, command=command_line(), **values)
            if job is None:
                result = render_timeline(edit, outdir, **more)
            else:
                result = timeline_variants(edit, job, outdir, **more)
    timeline_summary(result)
    if not result.ok:
        raise typer.Exit(1)


def clip_line(n: int, clip: EditClip) -> str:
    return f"clip {n} {clip.name!r} ({clip.where})"


def timeline_plan_lines(plan: TimelinePlan) -> list[str]:
    """The dry run of an edit: a summary, a line per piece, a line per clip that cannot be
    rendered."""
    used = sum(p.used for p in plan.pieces)
    lines = [
        f"edit {plan.edit}: {len(plan.clips)} video clips, {len(plan.pieces)} pieces, "
        f"{plan.frames} frames to render ({used} used, the rest handles)"
        + (f", {len(plan.missing)} clips missing media" if plan.missing else "")
    ]
    for p in plan.pieces:
        clips = ", ".join(str(i + 1) for i in p.clips)
        lines.append(
            f"  piece {p.name}: {p.media.name} frames {p.first}-{p.end - 1} ({p.frames} "
            f"frames, {p.used} used by clip{'s' if len(p.clips) > 1 else ''} {clips})"
        )
    for c in plan.missing:
        lines.append(f"  missing: {clip_line(c.clip.index + 1, c.clip)}: {c.error}")
    return lines


def timeline_summary(result: TimelineResult) -> None:
    """The edit's table: one line per video clip (ok, kept, failed, missing), then the
    relinked edits written."""
    clips = result.clips
    bad = [c for c in clips if c.status in ("failed", "missing")]
    say(
        f"timeline: {len(clips) - len(bad)} of {len(clips)} clips rendered"
        + (f", {len(bad)} offline" if bad else "")
    )
    for c in clips:
        line = f"  {c.status:8}{clip_line(c.clip.index + 1, c.clip)}"
        if c.status in ("failed", "missing"):
            line += f": {c.reason}"
            console.log(line)
            err.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            say(f"{line} -> {c.piece}")
    for path in result.timelines:
        say(f"wrote {path}")


# ``vidx upscale`` has no restyle, so its stabiliser takes the plain --temporal there too
UPSCALE_FLAGS = {"upscale_temporal": ("--temporal/--no-temporal",)}


@command(
    [INPUTS, OUTPUT_OR_DIR, *(option_param(n, UPSCALE_FLAGS.get(n, ())) for n in [*EDIT, *UPSCALE])]
)
def upscale(input: list[Path] | None, output: str, **values: Any) -> None:
    """Upscale (or just transcode with --size source) keeping timing, audio and subtitles.
    Several inputs or a folder are a batch into the folder -o OUTDIR/; --timeline EDIT
    upscales what an edit uses and writes it back relinked."""
    render_command("upscale", input, output, given(values, [*EDIT, *UPSCALE]))


@command([INPUTS, OUTPUT_OR_DIR, *(option_param(n) for n in [*EDIT, *RESTYLE])])
def restyle(input: list[Path] | None, output: str, **values: Any) -> None:
    """Restyle every frame (embedded --style or diffusion --prompt), then upscale to --size;
    --timeline EDIT restyles what an edit uses and writes it back relinked."""
    chosen = given(values, [*EDIT, *RESTYLE])
    if not any(k in chosen for k in ("style", "style_image", "prompt", "prompt_schedule")):
        chosen["style"] = "0"
    render_command("restyle", input, output, chosen)


PREVIEW_LISTS: dict[str, dict[str, Any]] = {
    "strength": dict(annotation=str | None, help="Comma list of strengths, e.g. 0.25,0.5,0.75."),
    "seed": dict(annotation=str | None, help="Comma list of seeds."),
    "style": dict(annotation=list[str] | None, help="Embedded style; repeat for several rows."),
    "prompt": dict(annotation=list[str] | None, help="Diffusion prompt; repeat for several rows."),
    "lora": dict(
        annotation=list[str] | None,
        default=None,
        help="LoRA PATH[:WEIGHT] (a comma list applies together); repeat for several rows.",
    ),
    "ip_adapter_scale": dict(annotation=str | None, help="Comma list of IP-Adapter weights."),
}
PREVIEW = [n for n in group_names(RestyleOptions, DeviceOptions) if n not in PREVIEW_LISTS]


@command(
    [
        INPUT,
        plain("output", Path, ..., "-o", "--output", help="Contact sheet (.png/.jpg)."),
        *(option_param(n, **change) for n, change in PREVIEW_LISTS.items()),
        *(option_param(n) for n in PREVIEW),
        plain("frames", int, 3, help="Frames spread over the clip."),
        plain("cell_width", int, 320, help="Width of one cell in pixels."),
        option_param("overwrite"),
    ]
)
def preview(input: Path, output: Path, frames: int, cell_width: int, **values: Any) -> None:
    """A labelled contact sheet of a few frames at several settings, in seconds."""
    from vidx.api import preview as make_preview

    with user_errors():
        vary = {k: v for k, v in lists(values).items() if v}
        fixed = {k: v[0] for k, v in vary.items()}
        chosen = {**given(values, PREVIEW), **fixed, "overwrite": values["overwrite"]}
        summary = make_preview(
            input, output, vary=vary, frames=frames, cell_width=cell_width, **chosen
        )
        err.print(f"wrote {output} (source + {len(summary['rows']) - 1} rows)", highlight=False)


def lists(values: dict[str, Any]) -> dict[str, list]:
    """Preview's value lists: comma lists of numbers, repeated options."""

    def numbers(name: str, kind: type) -> list:
        text = values.pop(name)
        if text is None:
            return []
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise OptionError(
                f"must be a comma list of numbers, got {text!r}", param=name
            ) from None

    return {
        "strength": numbers("strength", float),
        "seed": numbers("seed", int),
        "style": values.pop("style") or [],
        "prompt": values.pop("prompt") or [],
        "lora": values.pop("lora") or [],
        "ip_adapter_scale": numbers("ip_adapter_scale", float),
    }


VARIANTS = [
    "device",
    "dtype",
    "allow_pickle",
    "segment_frames",
    "resume",
    "restart",
    "overwrite",
    "plan",
]


@command(
    [
        inspect.Parameter(
            "input",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=Annotated[
                Path | None,
                typer.Argument(help="Input video (none with --timeline).", show_default=False),
            ],
        ),
        plain("job", Path, ..., help="TOML job file: a [shared] table and [variants.NAME] tables."),
        plain(
            "output",
            Path,
            ...,
            "-o",
            "--output",
            help="Folder for the NAME.mp4 files (with --timeline: a NAME/ folder per variant).",
        ),
        *(option_param(n) for n in [*EDIT, *VARIANTS]),
    ]
)
def variants(input: Path | None, job: Path, output: Path, **values: Any) -> None:
    """Several restyles of one clip in one pass: decoding and optical flow are shared. With
    --timeline EDIT, every variant of what the edit uses, and one relinked edit per variant."""
    from vidx.api import variants as run_variants

    if values.get("timeline") is not None or input is None:
        chosen = given(values, [*EDIT, *VARIANTS])
        timeline_command("variants", [input] if input else None, output, chosen, job=job)
        return
    if values.get("plan"):
        fail("--plan/--dry-run is for --timeline here")
    chosen = given(values, [n for n in VARIANTS if n != "plan"])
    with user_errors():
        with progress_bar("variants") as cb:
            result = run_variants(
                input,
                job,
                output,
                on_progress=cb,
                command=command_line(),
                **chosen,
            )
        report(result)


@command(
    [
        positional("input", Path, "A video, a picture, or an image sequence (%06d.png, a folder)."),
        plain("as_json", bool, False, "--json", help="Print JSON."),
        option_param("fps"),
    ]
)
def probe(input: Path, as_json: bool, fps: str | None) -> None:
    """Describe a video: size, rotation, codec, bit depth, timing, frame count, streams."""
    from vidx.api import probe as probe_file

    with user_errors():
        info = probe_file(input, fps=fps)
    if as_json:
        out.print_json(json.dumps(info.to_dict()))
        return
    for line in probe_lines(info):
        out.print(line, highlight=False)


def probe_lines(info: VideoInfo) -> list[str]:
    rot = f", rotated {info.rotation}°" if info.rotation else ""
    frames = (
        f"{info.frames}" + ("" if info.frames_exact else " (estimated)") if info.frames else "?"
    )
    dur = f"{info.duration:.3f}s" if info.duration is not None else "?"
    lines = [
        f"{info.path}: {info.format}, {dur}",
        f"  video: {info.codec} {info.width}x{info.height}{rot}, {info.pix_fmt} "
        f"({info.bit_depth}-bit), {info.average_rate or '?'} fps avg, time base "
        f"{info.time_base}, {frames} frames",
    ]
    if info.format == "image2":
        last = (info.first_number or 0) + (info.frames or 0) - 1
        lines.append(f"  sequence: frames {info.first_number}..{last}, {info.frames} files")
    elif info.format != "image":
        from vidx.io.colour import summary

        lines.append(f"  colour: {summary(info)}")
    if info.timecode:
        lines.append(f"  timecode: {info.timecode}")
    for s in info.streams:
        if s.type != "video":
            extra = ", ".join(f"{k} {v}" for k, v in s.details.items())
            lang = f" [{s.language}]" if s.language else ""
            lines.append(f"  {s.type} #{s.index}: {s.codec}{lang} {extra}".rstrip())
    return lines


@app.command()
def metrics(
    source: Annotated[Path, typer.Argument(help="The source clip.")],
    output: Annotated[Path, typer.Argument(help="The processed clip to judge.")],
    reference: Annotated[
        Path | None,
        typer.Option(help="A per-frame render of the same job: adds detail retention."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    max_frames: Annotated[int | None, typer.Option(help="Judge at most this many frames.")] = None,
) -> None:
    """Warping error (Lai et al. 2018) of OUTPUT, with flow and masks from SOURCE."""
    from vidx.api import metrics as clip_metrics

    with user_errors():
        result = clip_metrics(source, output, max_frames=max_frames, reference=reference)
    if as_json:
        out.print_json(json.dumps(result))
        return
    worst = result.get("warp_error_max")
    out.print(
        f"warping error: {result['warp_error']:.6f}"
        + (f" (worst pair {worst:.6f})" if worst is not None else "")
        + f"  (source frames {result['source_frames']}, output frames "
        f"{result['output_frames']}, pairs {result['pairs']})",
        highlight=False,
    )
    if "detail_retention_min" in result:
        out.print(
            f"detail retention: min {result['detail_retention_min']:.3f}, mean "
            f"{result['detail_retention_mean']:.3f}",
            highlight=False,
        )
    shimmer = result.get("shimmer")
    if shimmer is not None and shimmer["ratio"] is not None:
        also = shimmer.get("reference_ratio")
        out.print(
            f"shimmer at the output size: warping error x{shimmer['ratio']:.2f} of a Lanczos "
            f"upscale's (worst pair {shimmer['worst_pair']}: {shimmer['warp_error_max']:.6f})"
            + (f"; the reference x{also:.2f}" if also is not None else ""),
            highlight=False,
        )
    for line in _region_lines(result.get("regions", {})):
        out.print(line, highlight=False)


def _region_lines(regions: dict) -> list[str]:
    """One line per region of ``vidx metrics --reference`` (moving = moved within the last 6
    frames): share, warping error against the reference's and detail retention."""
    if not regions:
        return []
    lines = ["per region (moving = moved on its own within the last 6 frames):"]
    for name, r in regions.items():
        text = f"  {name:10} {100 * r['share']:5.1f}% of the frame"
        if r["warp_error_ratio"] is not None:
            text += (
                f", warping error x{r['warp_error_ratio']:.2f} of the reference's (worst pair "
                f"{r['worst_pair']}: {r['warp_error_max']:.6f})"
            )
        if r["detail_retention_min"] is not None:
            text += (
                f", detail retention min {r['detail_retention_min']:.3f} (frame "
                f"{r['detail_retention_worst_frame']}), mean {r['detail_retention_mean']:.3f}"
            )
        lines.append(text + f"; {r['frames']} frames")
    return lines


@app.command()
def models() -> None:
    """List the built-in models: upscalers (name, scale, weights size, licence), then the
    diffusion models that --model takes by name."""
    from vidx.restyle.diffusion.builtin import list_builtin
    from vidx.upscale.registry import list_models

    for m in list_models():
        scale = "any" if m.scales is None else "/".join(f"x{s}" for s in m.scales)
        size = "-" if m.size_mb is None else f"{m.size_mb:.1f} MB"
        out.print(f"{m.name:20} {scale:9} {size:>9}  {m.licence}  {m.description}", highlight=False)
    for d in list_builtin():
        size = "missing" if d.size_mb is None else f"{d.size_mb:.1f} MB"
        out.print(
            f"{d.name:20} {'diffusion':9} {size:>9}  {d.licence}  {d.description}", highlight=False
        )


@app.command()
def styles(
    input: Annotated[Path | None, typer.Argument(help="A clip or picture for --gallery.")] = None,
    gallery: Annotated[
        Path | None, typer.Option(help="Write one labelled thumbnail per style here (.png).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing gallery.")] = False,
) -> None:
    """List the embedded styles; with --gallery, render each on a frame of INPUT."""
    from vidx.restyle.style_catalog import list_styles

    if gallery is None:
        for s in list_styles():
            out.print(f"{s.index:3}  {s.name}", highlight=False)
        return
    with user_errors((gallery,)):
        if input is None:
            raise OptionError("--gallery needs an INPUT clip or picture to show the styles on")
        from vidx.api import style_gallery

        style_gallery(input, gallery, overwrite=overwrite)
        err.print(f"wrote {gallery}", highlight=False)


def version(value: bool) -> None:
    if value:
        out.print(f"vidx {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Show the libraries' own warnings in full.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No progress or summary; warnings, errors only.")
    ] = False,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Also append every message, progress lines included, here."),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Restyle and upscale video frame by frame, steady over time, audio and timing intact."""
    VERBOSE["on"] = VERBOSE["on"] or verbose
    console.STATE["quiet"] = quiet
    console.close_log()
    if log is not None:
        try:
            console.open_log(log)
        except OSError as exc:
            fail(f"--log {log}: {exc.strerror or exc}")
        console.log(command_line())


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 shares it on the network (use --auth).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    root: Annotated[
        Path | None, typer.Option(help="Folder whose clips may be picked by path (never left).")
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(help="USER:PASS for a login (or set VIDX_AUTH).", show_default=False),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(help="Folder for the job queue and results [~/.cache/vidx/serve]."),
    ] = None,
    max_upload: Annotated[int, typer.Option(help="Largest upload in MB.")] = 2000,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            help="Most pixels of any picture or frame a job reads or makes; a job file or the "
            "form may only lower it [the library's default, 16384x16384].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """A web UI (Gradio) over the same API: upload, preview, render, variants, a job queue."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        fail("vidx serve needs Gradio: pip install 'vidx[web]'")
    from vidx.serve.start import serve as run_server

    if host not in ("127.0.0.1", "localhost", "::1") and not (auth or os.environ.get("VIDX_AUTH")):
        warn(f"serving on {host} without --auth: anyone who can reach it can run jobs")
    with user_errors():
        err.print(f"vidx serve: http://{host}:{port}/ (Ctrl-C stops; unfinished jobs resume)")
        try:
            run_server(
                host,
                port,
                root=root,
                auth=auth,
                state=state,
                max_upload_mb=max_upload,
                max_pixels=max_pixels,
            )
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the normal way to stop a server
            err.print("vidx serve: stopped; unfinished jobs resume on the next start")
