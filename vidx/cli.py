"""The ``vidx`` command line: parse, validate, call the library, render progress."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidx.errors import VidxError

app = typer.Typer(
    name="vidx",
    help="Restyle and upscale video frame by frame, steady over time, audio and timing intact.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console(soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    err.print(
        f"[bold red]vidx: error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every VidxError into one line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except typer.Exit:
        raise
    except VidxError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; partial output removed", code=130)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, traceback only when asked for
        if os.environ.get("VIDX_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set VIDX_DEBUG=1 for a traceback)", code=1)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable]:
    """A rich progress bar on stderr (frames, fps, ETA); yields the library's callback."""
    if not err.is_terminal and not os.environ.get("VIDX_PROGRESS"):
        yield lambda p: None
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

        def update(p) -> None:  # noqa: ANN001 - vidx.pipeline.Progress
            bar.update(task, completed=p.done, total=p.total, fps=p.fps)

        yield update


# Shared option types ----------------------------------------------------------------------------

Input = Annotated[Path, typer.Argument(help="Input video (any format FFmpeg reads).")]
OutputOpt = Annotated[
    Path, typer.Option("-o", "--output", help="Output file (.mp4/.mov/.mkv/.webm).")
]
SizeOpt = Annotated[str, typer.Option(help="source, 720p, 1080p, 1440p, 4k, 8k, WxH, or x2/x3/x4.")]
FitOpt = Annotated[str, typer.Option(help="contain (pad black), cover (crop) or stretch.")]
UpscalerOpt = Annotated[
    str, typer.Option(help="lanczos, bicubic, esrgan, esrgan-anime, or a spandrel model file.")
]
CodecOpt = Annotated[str, typer.Option(help="h264, hevc, av1 or prores.")]
CrfOpt = Annotated[int | None, typer.Option(help="Quality (lower is better); codec default.")]
PresetOpt = Annotated[
    str | None,
    typer.Option(help="Encoder preset (x264/x265 names, 0-13 for av1, profile 0-5 for prores)."),
]
PixFmtOpt = Annotated[str | None, typer.Option("--pix-fmt", help="e.g. yuv420p, yuv420p10le.")]
StartOpt = Annotated[float, typer.Option(help="Start at this many seconds.")]
DurationOpt = Annotated[float | None, typer.Option(help="Process this many seconds.")]
MaxFramesOpt = Annotated[int | None, typer.Option(help="Process at most this many frames.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace an existing output file.")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
DtypeOpt = Annotated[str, typer.Option(help="auto, fp32, fp16 or bf16.")]
TileOpt = Annotated[int | None, typer.Option(help="Upscaler tile size in pixels (auto).")]
CompareOpt = Annotated[
    str | None,
    typer.Option(help="Also write OUTPUT.compare.EXT: side, split or stack (source | result)."),
]
SegmentOpt = Annotated[
    int | None,
    typer.Option(help="Frames per resumable segment (default 240; 0 = one piece, no resume)."),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(help="Continue from OUTPUT.parts/ after a crash (re-running does the same)."),
]
RestartOpt = Annotated[bool, typer.Option(help="Discard OUTPUT.parts/ and start over.")]
PickleOpt = Annotated[
    bool,
    typer.Option(help="Allow pickled model files (.pth/.ckpt), loaded with weights_only=True."),
]


@app.command()
def probe(
    input: Input,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Describe a video: size, rotation, codec, bit depth, timing, frame count, streams."""
    from vidx.io.probe import probe as probe_file

    with user_errors():
        info = probe_file(input)
    if as_json:
        out.print_json(json.dumps(info.to_dict()))
        return
    rot = f", rotated {info.rotation}°" if info.rotation else ""
    frames = (
        f"{info.frames}" + ("" if info.frames_exact else " (estimated)") if info.frames else "?"
    )
    dur = f"{info.duration:.3f}s" if info.duration is not None else "?"
    out.print(f"{info.path}: {info.format}, {dur}", highlight=False)
    out.print(
        f"  video: {info.codec} {info.width}x{info.height}{rot}, {info.pix_fmt} "
        f"({info.bit_depth}-bit), {info.average_rate or '?'} fps avg, time base "
        f"{info.time_base}, {frames} frames",
        highlight=False,
    )
    for s in info.streams:
        if s.type != "video":
            extra = ", ".join(f"{k} {v}" for k, v in s.details.items())
            lang = f" [{s.language}]" if s.language else ""
            out.print(f"  {s.type} #{s.index}: {s.codec}{lang} {extra}".rstrip(), highlight=False)


def _encode(codec: str, crf: int | None, preset: str | None, pix_fmt: str | None):  # noqa: ANN202
    from vidx.io.writer import EncodeSettings

    return EncodeSettings(codec, crf, preset, pix_fmt)


def _report(result, outputs) -> None:  # noqa: ANN001
    for w in result.warnings:
        err.print(f"[yellow]vidx: warning:[/] {escape(w)}", highlight=False)
    t = result.timings
    fps = result.frames / t.total if t.total else 0.0
    for path in result.outputs:
        err.print(
            f"wrote {path} ({result.frames} frames, {t.total:.1f}s, {fps:.2f} fps)", highlight=False
        )


@app.command()
def upscale(
    input: Input,
    output: OutputOpt,
    size: SizeOpt = "source",
    fit: FitOpt = "contain",
    upscaler: UpscalerOpt = "lanczos",
    codec: CodecOpt = "h264",
    crf: CrfOpt = None,
    preset: PresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    start: StartOpt = 0.0,
    duration: DurationOpt = None,
    max_frames: MaxFramesOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    tile: TileOpt = None,
    allow_pickle: PickleOpt = False,
    compare: CompareOpt = None,
    segment_frames: SegmentOpt = None,
    resume: ResumeOpt = True,
    restart: RestartOpt = False,
) -> None:
    """Upscale (or just transcode with --size source) keeping timing, audio and subtitles."""
    params = dict(locals())
    with user_errors():
        from vidx.compare import check_mode
        from vidx.io.reader import Trim
        from vidx.pipeline import Output
        from vidx.sizes import parse_size
        from vidx.upscale.registry import make_upscaler

        trim = Trim(start, duration, max_frames)
        spec = parse_size(size)
        encode = _encode(codec, crf, preset, pix_fmt)
        up = make_upscaler(
            upscaler, device=device, dtype=dtype, tile=tile, allow_pickle=allow_pickle
        )
        if _still(input, output, None, up, spec, fit, overwrite, params):
            return
        outputs = [Output(output, up, spec, fit, encode, compare=check_mode(compare))]
        with progress_bar("upscale") as cb:
            result = _render(input, outputs, trim, None, cb, params)
        _report(result, outputs)


@app.command()
def restyle(
    input: Input,
    output: OutputOpt,
    style: Annotated[
        str | None, typer.Option(help="Embedded style 0-25, or a blend like 3:0.5,12:0.5.")
    ] = None,
    style_image: Annotated[
        Path | None, typer.Option(help="Any picture to take the style from (embedded backend).")
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(help="Text prompt: selects the Stable Diffusion backend (needs --model)."),
    ] = None,
    negative_prompt: Annotated[str, typer.Option(help="Diffusion negative prompt.")] = "",
    model: Annotated[
        str | None,
        typer.Option(help="Diffusers folder, single .safetensors file, or hub id (cached)."),
    ] = None,
    strength: Annotated[
        float | None,
        typer.Option(
            help="0..1; style: blend with the source (default 1), diffusion: img2img (0.5)."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Diffusion steps.")] = 20,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale.")] = 7.5,
    scheduler: Annotated[str, typer.Option(help="euler, euler-a, ddim, dpm++, lcm.")] = "ddim",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    work_size: Annotated[
        int | None,
        typer.Option(
            help="Diffusion: short side (default 512); style: long side cap (default 1024)."
        ),
    ] = None,
    temporal: Annotated[
        bool, typer.Option(help="Reuse the previous frame along the optical flow (steady output).")
    ] = True,
    temporal_weight: Annotated[
        float, typer.Option(help="Style backend: weight of the warped previous output.")
    ] = 0.8,
    keyframe_interval: Annotated[
        int, typer.Option(help="Fresh keyframe every N frames (0: only frame 0 and scene cuts).")
    ] = 30,
    scene_cuts: Annotated[bool, typer.Option(help="Keyframes at detected scene cuts.")] = True,
    flow: Annotated[str, typer.Option(help="Optical flow: dis, farneback, raft.")] = "dis",
    flow_preset: Annotated[
        str, typer.Option(help="DIS preset: ultrafast, fast, medium, fine.")
    ] = "medium",
    raft_weights: Annotated[str | None, typer.Option(help="RAFT weights file.")] = None,
    analysis_size: Annotated[
        int, typer.Option(help="Long side (px) at which flow is computed.")
    ] = 640,
    latent_blend: Annotated[bool, typer.Option(help="Diffusion: start from warped latent.")] = True,
    warp_noise: Annotated[bool, typer.Option(help="Diffusion: noise warped along flow.")] = True,
    pull: Annotated[
        bool, typer.Option(help="Diffusion: pull early steps to warped latent.")
    ] = True,
    pull_steps: Annotated[float, typer.Option(help="Fraction of steps with the pull.")] = 0.5,
    cross_frame_attn: Annotated[
        bool, typer.Option(help="Diffusion: attend to the last keyframe.")
    ] = True,
    color_anchor: Annotated[
        bool, typer.Option(help="Diffusion: colour-match to the last keyframe.")
    ] = True,
    reuse_strength: Annotated[
        float,
        typer.Option(help="Diffusion: strength of non-keyframes started from the warped latent."),
    ] = 0.35,
    refine_strength: Annotated[
        float, typer.Option(help="Diffusion detail refine after upscaling (0 = off).")
    ] = 0.0,
    compile: Annotated[bool, typer.Option(help="torch.compile the UNet (GPU).")] = False,
    size: SizeOpt = "source",
    fit: FitOpt = "contain",
    upscaler: UpscalerOpt = "lanczos",
    codec: CodecOpt = "h264",
    crf: CrfOpt = None,
    preset: PresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    start: StartOpt = 0.0,
    duration: DurationOpt = None,
    max_frames: MaxFramesOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    tile: TileOpt = None,
    allow_pickle: PickleOpt = False,
    compare: CompareOpt = None,
    segment_frames: SegmentOpt = None,
    resume: ResumeOpt = True,
    restart: RestartOpt = False,
) -> None:
    """Restyle every frame (embedded --style or diffusion --prompt), then upscale to --size."""
    params = dict(locals())
    with user_errors():
        from vidx.analysis import AnalysisOptions
        from vidx.compare import check_mode
        from vidx.io.reader import Trim
        from vidx.pipeline import Output, check_outputs
        from vidx.restyle.factory import RestyleSpec, make_restyler, with_refine
        from vidx.sizes import parse_size
        from vidx.stills import check_image_output, is_image_path
        from vidx.upscale.registry import make_upscaler

        spec = RestyleSpec(
            style=style,
            style_image=str(style_image) if style_image else None,
            prompt=prompt,
            negative_prompt=negative_prompt,
            model=model,
            strength=strength,
            steps=steps,
            guidance=guidance,
            scheduler=scheduler,
            seed=seed,
            work_size=work_size,
            device=device,
            dtype=dtype,
            allow_pickle=allow_pickle,
            temporal=temporal,
            temporal_weight=temporal_weight,
            color_anchor=color_anchor,
            latent_blend=latent_blend,
            warp_noise=warp_noise,
            pull=pull,
            pull_steps=pull_steps,
            cross_frame_attn=cross_frame_attn,
            reuse_strength=reuse_strength,
            refine_strength=refine_strength,
            compile=compile,
        ).check()
        trim = Trim(start, duration, max_frames)
        analysis = AnalysisOptions(
            enabled=temporal,
            flow_method=flow,
            flow_preset=flow_preset,
            analysis_size=analysis_size,
            keyframe_interval=keyframe_interval,
            scene_cuts=scene_cuts,
            raft_weights=raft_weights,
        )
        size_spec = parse_size(size)
        encode = _encode(codec, crf, preset, pix_fmt)
        up = make_upscaler(
            upscaler, device=device, dtype=dtype, tile=tile, allow_pickle=allow_pickle
        )
        if is_image_path(output):
            check_image_output(input, output, overwrite)
            restyler = make_restyler(spec)
            up = with_refine(up, spec, restyler)
            _still(input, output, restyler, up, size_spec, fit, overwrite, params)
            return
        # refuse a bad output before loading any model
        check_outputs(
            input,
            [Output(output, up, size_spec, fit, encode, compare=check_mode(compare))],
            overwrite,
        )
        restyler = make_restyler(spec)
        up = with_refine(up, spec, restyler)
        outputs = [
            Output(output, up, size_spec, fit, encode, restyler, compare=check_mode(compare))
        ]
        with progress_bar("restyle") as cb:
            result = _render(input, outputs, trim, analysis, cb, params)
        _report(result, outputs)


@app.command()
def preview(
    input: Input,
    output: Annotated[Path, typer.Option("-o", "--output", help="Contact sheet (.png/.jpg).")],
    strength: Annotated[
        str | None, typer.Option(help="Comma list of strengths, e.g. 0.25,0.5,0.75 (one row each).")
    ] = None,
    style: Annotated[
        list[str] | None,
        typer.Option(
            help="Embedded style; repeat the option for several rows (--style 3 --style 7)."
        ),
    ] = None,
    seed: Annotated[str | None, typer.Option(help="Comma list of seeds.")] = None,
    prompt: Annotated[
        list[str] | None, typer.Option(help="Diffusion prompt; repeat the option for several rows.")
    ] = None,
    style_image: Annotated[Path | None, typer.Option(help="Style picture.")] = None,
    negative_prompt: Annotated[str, typer.Option(help="Diffusion negative prompt.")] = "",
    model: Annotated[str | None, typer.Option(help="Diffusion model (see restyle).")] = None,
    steps: Annotated[int, typer.Option(help="Diffusion steps.")] = 20,
    guidance: Annotated[float, typer.Option(help="Guidance scale.")] = 7.5,
    scheduler: Annotated[str, typer.Option(help="Diffusion scheduler.")] = "ddim",
    work_size: Annotated[int | None, typer.Option(help="Working size (see restyle).")] = None,
    frames: Annotated[int, typer.Option(help="Frames spread over the clip.")] = 3,
    cell_width: Annotated[int, typer.Option(help="Width of one cell in pixels.")] = 320,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    allow_pickle: PickleOpt = False,
) -> None:
    """A labelled contact sheet of a few frames at several settings, in seconds."""
    with user_errors():
        from vidx.errors import OptionError
        from vidx.preview import run_preview
        from vidx.restyle.factory import RestyleSpec

        def numbers(text: str | None, kind: type, name: str) -> list | None:
            if text is None:
                return None
            try:
                return [kind(v) for v in text.split(",") if v.strip()]
            except ValueError:
                raise OptionError(
                    f"--{name} must be a comma list of numbers, got {text!r}"
                ) from None

        variations = {
            k: v
            for k, v in {
                "strength": numbers(strength, float, "strength"),
                "seed": numbers(seed, int, "seed"),
                "style": style or None,
                "prompt": prompt or None,
            }.items()
            if v
        }
        base = RestyleSpec(
            style=None if prompt else "0",
            style_image=str(style_image) if style_image else None,
            prompt=prompt[0] if prompt else None,
            negative_prompt=negative_prompt,
            model=model,
            steps=steps,
            guidance=guidance,
            scheduler=scheduler,
            work_size=work_size,
            device=device,
            dtype=dtype,
            allow_pickle=allow_pickle,
            temporal=False,
        )
        if style_image:
            base = base.with_values({"style": None})
        summary = run_preview(
            input,
            output,
            base,
            variations,
            frames=frames,
            cell_width=cell_width,
            overwrite=overwrite,
        )
        rows = len(summary.get("rows", [])) - 1
        err.print(f"wrote {output} (source + {rows} rows)", highlight=False)


@app.command()
def variants(
    input: Input,
    job: Annotated[Path, typer.Option(help="TOML job file: [shared] and [variants.NAME].")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for NAME.mp4 files.")],
    overwrite: OverwriteOpt = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (overrides job).")] = None,
    segment_frames: SegmentOpt = None,
    resume: ResumeOpt = True,
    restart: RestartOpt = False,
) -> None:
    """Several restyles of one clip in one pass: decoding and optical flow are shared."""
    params = dict(locals())
    with user_errors():
        from vidx.jobfile import load_job
        from vidx.pipeline import check_outputs
        from vidx.variants import plan_variants

        plan = load_job(job)
        if output.exists() and not output.is_dir():
            fail(f"-o {output} is a file; variants need a folder")
        output.mkdir(parents=True, exist_ok=True)
        outputs, analysis, trim = plan_variants(plan, output, device=device)
        check_outputs(input, outputs, overwrite)
        with progress_bar(f"variants x{len(outputs)}") as cb:
            params.update(job=plan.shared, variants=plan.variants)
            result = _render(input, outputs, trim, analysis, cb, params)
        _report(result, outputs)


@app.command()
def metrics(
    source: Annotated[Path, typer.Argument(help="The source clip.")],
    output: Annotated[Path, typer.Argument(help="The processed clip to judge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    max_frames: MaxFramesOpt = None,
) -> None:
    """Warping error (Lai et al. 2018) of OUTPUT, with flow and masks from SOURCE."""
    with user_errors():
        from vidx.metrics import clip_metrics

        result = clip_metrics(source, output, max_frames=max_frames)
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(
            f"warping error: {result['warp_error']:.6f}  (source frames "
            f"{result['source_frames']}, output frames {result['output_frames']}, "
            f"pairs {result['pairs']})",
            highlight=False,
        )


def _render(input, outputs, trim, analysis, progress, params):  # noqa: ANN001, ANN202
    """Run the job: as resumable segments (the default) or, with --segment-frames 0, a picture
    input or --compare, in one piece."""
    from vidx.analysis import AnalysisOptions
    from vidx.pipeline import run
    from vidx.segments import DEFAULT_SEGMENT_FRAMES, run_segmented
    from vidx.stills import is_image_path

    analysis = analysis or AnalysisOptions(enabled=False)
    frames = params.get("segment_frames")
    frames = DEFAULT_SEGMENT_FRAMES if frames is None else frames
    if frames < 0:
        from vidx.errors import OptionError

        raise OptionError(f"--segment-frames must be >= 0, got {frames}")
    overwrite = params["overwrite"]
    # what may change between a run and its resumption stays out of the manifest's settings
    settings = {
        k: v for k, v in _jsonable(params).items() if k not in ("overwrite", "resume", "restart")
    }
    if frames == 0 or is_image_path(input) or any(o.compare for o in outputs):
        return run(
            input,
            outputs,
            trim=trim,
            analysis=analysis,
            overwrite=overwrite,
            on_progress=progress,
            params=settings,
        )
    return run_segmented(
        input,
        outputs,
        segment_frames=frames,
        trim=trim,
        analysis=analysis,
        resume=params["resume"],
        restart=params["restart"],
        overwrite=overwrite,
        on_progress=progress,
        params=settings,
    )


def _still(input, output, restyler, upscaler, size, fit, overwrite, params) -> bool:  # noqa: ANN001
    """Image output: process one picture (the input must be a picture too). False for video."""
    from vidx.stills import is_image_path, process_still

    if not is_image_path(output):
        return False
    if not is_image_path(input):
        fail(
            f"-o {output} is a picture but {input} is a video; write a video, or use "
            f"`vidx preview` for stills of a clip"
        )
    summary = process_still(
        input,
        output,
        restyler=restyler,
        upscaler=upscaler,
        size=size,
        fit=fit,
        overwrite=overwrite,
        params=_jsonable(params),
    )
    for w in summary.get("warnings", []):
        err.print(f"[yellow]vidx: warning:[/] {escape(w)}", highlight=False)
    err.print(f"wrote {output}", highlight=False)
    return True


def _jsonable(params: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}
