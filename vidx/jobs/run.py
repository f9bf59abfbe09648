"""One job path: plan a job, check all of it, then run it.

Every face ends here (``vidx upscale``/``restyle``/``variants``, :func:`vidx.render`): a job is
an input and one or more :class:`Target` outputs, each with its :class:`JobOptions`.
:func:`plan` checks everything that can be checked before any work (options, the input's kind,
size and trim range, every file the job reads, every path it will write), so a refusal leaves
nothing on disk; :func:`execute` then locks the outputs, loads the models and runs.

Convention: every path vidx writes for an output is derived in :meth:`Target.paths` and nowhere
else; none may be (by real path or inode) a file the job reads, and an existing one needs
``overwrite`` (a ``.parts`` folder only when it holds vidx's manifest; a foreign one is never
adopted or deleted).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vidx.compare import compare_path
from vidx.errors import ModelError, OptionError, OutputError
from vidx.io.image_sequence import (
    DEFAULT_RATE,
    Sequence,
    check_sizes,
    find_sequence,
    hashed,
    is_pattern,
    is_sequence_input,
    sequence_info,
)
from vidx.io.images import is_image_path, still_info
from vidx.io.images import temp_path as image_temp_path
from vidx.io.inputs import (
    MAX_PIXELS_CEILING,
    check_image_file,
    check_pixels,
    check_regular_file,
    size_text,
)
from vidx.io.lock import OutputLock, lock_path
from vidx.io.names import check_lengths
from vidx.io.probe import VideoInfo, as_fraction, probe
from vidx.io.reader import Trim
from vidx.io.sidecar import sidecar_path
from vidx.io.sidecar import temp_path as json_temp_path
from vidx.io.writer import (
    MIN_SIZE,
    EncodeSettings,
    container_format,
    encoder_formats,
    following_source,
    has_alpha,
    keeping_alpha,
    part_path,
)
from vidx.jobs.segment_plan import JobKind, SegmentPlan, plan_job
from vidx.jobs.segments import MANIFEST, discard_unstarted, parts_dir, run_segmented
from vidx.jobs.sequence_job import check_frames, manifest_path, run_sequence
from vidx.jobs.stills import process_still
from vidx.options import JobOptions
from vidx.pipeline import JobContext, JobResult, Output, ProgressCallback, run, say_phase
from vidx.upscale.registry import NAMES as UPSCALERS
from vidx.upscale.registry import REGISTRY
from vidx.values.sizes import parse_size, plan_layout

if TYPE_CHECKING:
    import av

WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt", ".bin")
IN_PARTS = "seg000000.state.part"  # as long as any name vidx writes in a parts folder


@dataclass(frozen=True)
class Target:
    """One output of a job: where it goes, what it is called in the job, its options."""

    path: Path
    options: JobOptions
    name: str = "main"

    @property
    def image(self) -> bool:
        return is_image_path(self.path)

    @property
    def sequence(self) -> bool:
        """An image sequence (``-o out/%06d.png``, see :mod:`vidx.jobs.sequence_job`)."""
        return is_pattern(self.path)

    def paths(self) -> dict[str, Path]:
        """Every path vidx may write for this output, by what it is (for a sequence, all but
        its frames, which :func:`vidx.jobs.sequence_job.check_frames` checks)."""
        p = self.path
        if self.sequence:
            name = hashed(p)
            return {
                "output": p,
                "sidecar": sidecar_path(name),
                "sidecar temp file": json_temp_path(sidecar_path(name)),
                "lock file": lock_path(p),
                "resume manifest": manifest_path(p),
                "resume manifest temp file": json_temp_path(manifest_path(p)),
            }
        out = {
            "output": p,
            "sidecar": sidecar_path(p),
            "sidecar temp file": json_temp_path(sidecar_path(p)),
            "lock file": lock_path(p),
        }
        if self.image:
            out["temp file"] = image_temp_path(p)
            return out
        out["temp file"] = part_path(p)
        out["parts folder"] = parts_dir(p)
        if self.options.size.compare:
            out["compare video"] = compare_path(p)
            out["compare temp file"] = part_path(compare_path(p))
        return out


@dataclass(frozen=True)
class Plan:
    """A checked job, ready for :func:`execute`."""

    input: Path
    info: VideoInfo
    targets: list[Target]
    reads: list[Path]  # every file the job reads (the input, models, pictures, weights)
    make_folder: Path | None = None  # the output folder execute() creates (variants)
    sequence: Sequence | None = None  # the input, when it is an image sequence

    @property
    def source(self) -> Path | Sequence:
        """What the pipeline reads: the input file, or its image sequence."""
        return self.sequence if self.sequence is not None else self.input

    @property
    def image_input(self) -> bool:
        return is_image_path(self.input)

    @property
    def shared(self) -> JobOptions:
        """The options every output shares (trim, analysis, device, input, run)."""
        return self.targets[0].options

    @property
    def segmented(self) -> bool:
        o = self.shared
        return (
            o.run.segment_frames > 0
            and not self.image_input
            and self.sequence is None  # (a sequence input is rendered in one piece)
            and not any(
                t.options.size.compare or t.sequence or t.options.restyle.masked
                for t in self.targets
            )
        )


def plan(
    input: str | Path,
    targets: list[Target],
    reads: Iterable[Path] = (),
    *,
    make_folder: Path | None = None,
) -> Plan:
    """Check a whole job before any work; raise the first problem as a VidxError.

    ``reads`` are further files the job reads (a job file): no output may replace them.
    ``make_folder``: the outputs' folder, which :func:`execute` creates if it is missing (its
    parent must exist).
    """
    src = Path(input)
    if not targets:
        raise OptionError("a job needs at least one output")
    shared = targets[0].options
    # 1. the input: a regular file, a picture, a video or an image sequence (every frame's
    # header) within the pixel limit, a trim inside it
    seq = None
    if is_sequence_input(src):
        i = shared.input
        seq = find_sequence(
            src, i.rate or DEFAULT_RATE, max_pixels=i.max_pixels, skip_bad=i.skip_bad_frames
        )
        check_sizes(seq)
    elif shared.input.fps is not None:
        raise OptionError(f"is for image-sequence inputs; {src} keeps its own timing", param="fps")
    elif shared.input.skip_bad_frames:
        raise OptionError(f"is for image-sequence inputs, not {src}", param="skip_bad_frames")
    else:
        check_regular_file(src, "input")
    if seq is None and is_image_path(src):
        check_image_file(src, shared.input.max_pixels, "input")
        info = still_info(src)
    else:
        info = sequence_info(seq) if seq is not None else probe(src)
        check_pixels(info.width, info.height, shared.input.max_pixels, f"input {src}")
        _check_trim(info, shared)
    targets = [in_frames(t, None if is_image_path(src) else frame_rate(info)) for t in targets]
    # 2. what the job reads besides the input
    files = [seq.pattern if seq is not None else src, *reads]
    for t in targets:
        files += _model_files(t.options) + _region_files(t.options, info)
    # 3. what it writes: names the file system takes, then the folders and files
    for t in targets:
        _check_lengths(t)
    if make_folder is not None:
        if make_folder.exists() and not make_folder.is_dir():
            raise OutputError(f"output {make_folder} is a file; variants need a folder")
        if not make_folder.parent.is_dir():
            raise OutputError(
                f"output {make_folder}: the folder {make_folder.parent} does not exist"
            )
        make_folder = None if make_folder.is_dir() else make_folder
    if len(targets) > 1 and any(t.sequence for t in targets):
        raise OptionError("an image sequence must be the job's only output", param="output")
    for t in targets:
        _check_target(src, t, make_folder)
        _check_output_size(info, t)
        _check_encoder_size(info, t)
        if t.sequence:
            check_frames(t.path, info, seq, overwrite=t.options.run.overwrite)
    _check_paths(targets, files)
    return Plan(src, info, targets, files, make_folder, seq)


def plan_preview(input: str | Path, output: str | Path, options: JobOptions) -> Plan:
    """Check a preview sheet job: a video input, a picture output, the restyle's files."""
    src, out = Path(input), Path(output)
    check_regular_file(src, "input")
    if is_image_path(src):
        raise OptionError(f"{src} is a picture; preview takes a video", param="input")
    info = probe(src)
    check_pixels(info.width, info.height, options.input.max_pixels, f"input {src}")
    target = in_frames(Target(out, options), frame_rate(info))
    if not target.image:
        raise OptionError(f"{out}: a contact sheet is a picture (.png or .jpg)", param="output")
    _check_lengths(target)
    _check_target(src, target, None, video_ok=True)
    files = [src, *_model_files(options), *_region_files(options, info)]
    _check_paths([target], files)
    return Plan(src, info, [target], files)


def in_frames(target: Target, rate: Fraction | None) -> Target:
    """``target`` with its prompt schedule's times in frames at the input's ``rate`` (so a
    segment, a Ray worker and the sidecar all count frames); other targets unchanged."""
    r = target.options.restyle
    if r.prompt_schedule is None:
        return target
    from dataclasses import replace

    from vidx.values.prompt_schedule import in_frames as schedule_in_frames

    text, transition = schedule_in_frames(r.prompt_schedule, r.prompt_transition, rate, r.prompt)
    options = target.options.with_values(prompt_schedule=text, prompt_transition=transition)
    return replace(target, options=options)


def _check_trim(info: VideoInfo, options: JobOptions) -> None:
    start = trim_of(options, info).start  # (frame counts resolved with the input's rate)
    if info.duration is not None and start > 0 and start >= info.duration:
        raise OptionError(
            f"{start:g} s is past the end of the input ({info.duration:.3f} s)", param="start"
        )


def _check_output_size(info: VideoInfo, t: Target) -> None:
    """The output picture (the size ``--size`` gives, after ``--fit``; for ``cover`` also the
    picture before its crop) is within ``max_pixels``, for videos, stills and sequences alike."""
    size, limit = t.options.size, t.options.input.max_pixels
    layout = plan_layout(parse_size(size.size), (info.width, info.height), size.fit)
    w, h = max(layout.content, layout.canvas, key=lambda s: s[0] * s[1])
    if w * h > limit:
        raise_it = f" or raise --max-pixels to {w * h}" if w * h <= MAX_PIXELS_CEILING else ""
        raise OptionError(
            f"{size.size} makes {t.path.name} {size_text(w, h)}, over the limit of {limit} "
            f"pixels; choose a smaller --size{raise_it}",
            param="size",
        )


def _check_encoder_size(info: VideoInfo, t: Target) -> None:
    """The output picture is at least as large as its encoder takes (DNxHR: 256x120)."""
    low = MIN_SIZE.get(t.options.encode.codec)
    if t.image or low is None:
        return
    size = t.options.size
    w, h = plan_layout(parse_size(size.size), (info.width, info.height), size.fit).canvas
    if w < low[0] or h < low[1]:
        raise OptionError(
            f"{t.options.encode.codec} needs a picture of at least {low[0]}x{low[1]}, the output "
            f"{t.path.name} would be {w}x{h}; choose a larger --size",
            param="codec",
        )


def _model_files(options: JobOptions) -> list[Path]:
    """The weight and picture files ``options`` name, each checked to exist (no loading)."""
    found: list[Path] = []
    r, limit = options.restyle, options.input.max_pixels
    if r.active and r.style_image:
        check_image_file(Path(r.style_image), limit, "style_image")
        found.append(Path(r.style_image))
    for text in r.lora if r.active else ():
        from vidx.options import parse_lora

        check_regular_file(Path(parse_lora(text)[0]), "lora")
        found.append(Path(parse_lora(text)[0]))
    if r.active and r.ip_adapter:
        check_regular_file(Path(r.ip_adapter), "ip_adapter")
        encoder = Path(r.ip_adapter).parent / "image_encoder"
        if not (encoder / "config.json").is_file():
            raise ModelError(
                f"ip_adapter {r.ip_adapter}: no image encoder beside it ({encoder}/config.json)"
            )
        found.append(Path(r.ip_adapter))
    if r.active and r.model and _looks_local(r.model):
        model = Path(r.model)
        if not model.exists():
            raise ModelError(f"model {r.model}: no such file or folder")
        if model.is_file():
            check_regular_file(model, "model")
        found.append(model)
    if r.active and r.prompt is not None:
        found += _control_files(options)
    name = options.upscale.upscaler
    if name not in UPSCALERS:
        if not (any(c in name for c in "/\\.") or Path(name).exists()):
            raise OptionError(
                f"must be one of {', '.join(UPSCALERS)} or a model file, got {name!r}",
                param="upscaler",
            )
        check_regular_file(Path(name), "upscaler")
        found.append(Path(name))
    a = options.analysis
    if r.active and r.temporal and a.flow == "raft" and a.raft_weights:
        check_regular_file(Path(a.raft_weights), "raft_weights")
        found.append(Path(a.raft_weights))
    return found


def _region_files(options: JobOptions, info: VideoInfo) -> list[Path]:
    """The ``--mask`` file, checked to be a readable picture or video of the input's shape,
    and the ``--keep`` boxes, checked to lie on the frame."""
    from vidx.regions import check_keep, check_mask

    r = options.restyle
    if r.keep is not None:
        check_keep(r.keep, (info.height, info.width))
    if r.mask is None:
        return []
    mask = Path(r.mask)
    check_regular_file(mask, "mask")
    if is_image_path(mask):
        check_image_file(mask, options.input.max_pixels, "mask")
    else:  # a mask video: its frames' size, from the header
        mask_info = probe(mask)
        check_pixels(mask_info.width, mask_info.height, options.input.max_pixels, f"mask {mask}")
    check_mask(mask, (info.width, info.height))
    return [mask]


def _control_files(options: JobOptions) -> list[Path]:
    """The ControlNet's (and depth model's) weights files: local or cached, not pickled unless
    allowed (``vidx.restyle.controlnet_files``; nothing is loaded)."""
    from vidx.restyle.controlnet_files import checked_weights

    c, allow = options.restyle.diffusion_control, options.device.allow_pickle
    if not c.controlnet:
        return []
    found = [checked_weights(c.controlnet, "--controlnet", allow)]
    if c.control == "depth" and c.depth_model:
        found.append(checked_weights(c.depth_model, "--depth-model", allow))
    return found


def _looks_local(model: str) -> bool:
    """A model that is a path (a folder or file) rather than a hub id such as ``org/name``."""
    return (
        Path(model).exists()
        or model.startswith((".", "/", "~"))
        or model.lower().endswith(WEIGHT_SUFFIXES)
        or model.count("/") > 1
        or "\\" in model
    )


def _check_target(src: Path, t: Target, make_folder: Path | None, video_ok: bool = False) -> None:
    p = t.path
    if t.image:
        if not is_image_path(src) and not video_ok:
            raise OptionError(
                f"{p} is a picture but the input {src} is a video; write a video, or use "
                "`vidx preview` for stills of a clip",
                param="output",
            )
        if t.options.size.compare:
            raise OptionError("needs a video output", param="compare")
    elif t.sequence:
        if t.options.size.compare:
            raise OptionError("needs a video output, not an image sequence", param="compare")
    else:
        container_format(p, t.options.encode.codec)
    if p.is_dir():
        raise OutputError(f"output {p} is a folder; name the output file inside it")
    if make_folder is not None and p.parent == make_folder:
        return  # created by execute()
    if not p.parent.is_dir():
        raise OutputError(f"output {p}: the folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise OutputError(f"output {p}: the folder {p.parent} is not writable")


def _check_lengths(t: Target) -> None:
    """Every name and path vidx writes for ``t`` within the file system's limits."""
    paths = t.paths()
    if "parts folder" in paths:  # and what goes in it: segments, states, the manifest
        paths["files in the parts folder"] = paths["parts folder"] / IN_PARTS
    check_lengths(paths, "output")


def _check_paths(targets: list[Target], reads: list[Path]) -> None:
    """No derived path is a file the job reads or another output's; existing ones need
    ``overwrite``; a parts folder must be vidx's own."""
    seen: dict[str, str] = {}
    for t in targets:
        for what, path in t.paths().items():
            key = _real(path)
            if key in seen:
                raise OutputError(f"two outputs would both write {path} ({seen[key]} and {what})")
            seen[key] = f"the {what} of {t.path}"
            for r in reads:
                if _same(path, r) and what == "output":
                    raise OutputError(
                        f"output {t.path} is the input file; choose another output name"
                    )
                if _same(path, r):
                    raise OutputError(
                        f"the {what} of -o {t.path} would be {path}, which the job reads; "
                        "choose another output name"
                    )
    for t in targets:
        overwrite = t.options.run.overwrite
        for what, path in t.paths().items():
            if what == "parts folder":
                _check_parts(path, t)
            elif (
                what not in ("lock file", "resume manifest")
                and (path.exists() or path.is_symlink())
                and not overwrite
            ):
                hint = "" if what == "output" else " (left by an earlier run?)"
                raise OutputError(f"{path} already exists{hint}; add --overwrite to replace it")


def _check_parts(folder: Path, t: Target) -> None:
    if not (folder.exists() or folder.is_symlink()):
        return
    if folder.is_symlink() or not folder.is_dir():
        raise OutputError(
            f"{folder} exists and is not a vidx parts folder; move it away (vidx keeps the "
            f"segments of {t.path.name} there)"
        )
    if not (folder / MANIFEST).is_file():
        raise OutputError(
            f"{folder} is not a vidx parts folder (no {MANIFEST}); move it away, vidx will not "
            "adopt or delete it"
        )


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _same(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are one file: the same real path, or (both existing) the same inode."""
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def execute(
    job: Plan, *, on_progress: ProgressCallback | None = None, command: str = "vidx"
) -> JobResult:
    """Lock the outputs, build the models, run the job (segmented when it can resume)."""
    if job.shared.run.plan:
        raise OptionError("asks for the plan only: vidx.api.job_plan() returns it", param="plan")
    made = job.make_folder
    if made is not None:
        made.mkdir()
    try:
        return _execute(job, on_progress, command)
    except BaseException:
        if made is not None and not any(made.iterdir()):
            made.rmdir()
        raise


def _alpha_notices(name: str, settings: EncodeSettings, t: Target) -> list[str]:
    """What becomes of a source's alpha channel: dropped by a format without alpha, kept by a
    straight transcode, made opaque where frames are processed (they are RGB)."""
    if not has_alpha(settings.pixel_format):
        return [
            f"{name} the source's alpha channel is dropped ({settings.pixel_format} has none); "
            "--codec prores --profile 4444 keeps it"
        ]
    o = t.options
    classical = REGISTRY.get(o.upscale.upscaler)
    straight = classical is not None and classical.kind == "classical"
    if o.restyle.active or o.size.size != "source" or o.size.compare or not straight:
        return [
            f"{name} the source's alpha channel is kept only by a straight transcode "
            "(--size source, no restyle); this output's alpha is opaque"
        ]
    return []


CHROMA_SAMPLES = {"4:4:4": 4, "4:2:2": 2, "4:4:0": 2, "4:1:1": 1, "4:2:0": 1, "4:0:0": 0}


def notices(info: VideoInfo, t: Target) -> list[str]:
    """What the output changes about the picture without being asked: chroma subsampling,
    bit depth, an odd size made even (each said once, as a warning)."""
    if t.image or t.sequence or info.pix_fmt is None or info.format == "image":
        return []
    import av

    out: list[str] = []
    settings = following_source(
        keeping_alpha(t.options.encode.settings(), info.pix_fmt), info.pix_fmt
    )
    src, dst = av.VideoFormat(info.pix_fmt), av.VideoFormat(settings.pixel_format)
    name = f"{t.path.name}:"
    if src.name.startswith("yuv") and CHROMA_SAMPLES[_chroma(dst)] < CHROMA_SAMPLES[_chroma(src)]:
        keep = _keep(src, dst)  # (only a loss is said: ProRes' 4:2:2 from 4:2:0 loses nothing)
        usable = settings.profile_formats or encoder_formats(settings.encoder)
        hint = f"; --pix-fmt {keep} keeps it" if keep in usable else ""
        out.append(
            f"{name} the source's {_chroma(src)} chroma is written as {_chroma(dst)} "
            f"({settings.pixel_format}){hint}"
        )
    if info.bit_depth > 8 and dst.components[0].bits < info.bit_depth:
        out.append(
            f"{name} the {info.bit_depth}-bit source is written at {dst.components[0].bits} bits "
            f"({settings.pixel_format}); choose a 10-bit --pix-fmt such as yuv420p10le to keep more"
        )
    if has_alpha(info.pix_fmt):
        out += _alpha_notices(name, settings, t)
    out += colour_notices(info, t, settings)
    if t.options.size.size == "source" and (info.width % 2 or info.height % 2):
        w, h = info.width + info.width % 2, info.height + info.height % 2
        out.append(f"{name} the odd source size {info.width}x{info.height} is padded to {w}x{h}")
    return out


UNCONVERTED_MATRICES = ("ycgco", "smpte2085", "chroma-derived-nc", "chroma-derived-c", "ictcp")


def colour_notices(info: VideoInfo, t: Target, settings: EncodeSettings) -> list[str]:
    """What a deep or HDR source loses to a model of 8-bit SDR pictures, and an h264 pixel
    format chosen to keep the source's that common players cannot play."""
    import av

    out: list[str] = []
    name = f"{t.path.name}:"
    r = t.options.restyle
    model = "the diffusion model" if r.backend == "diffusion" else "the style network"
    hdr = {"smpte2084": "PQ", "arib-std-b67": "HLG"}.get(info.color_transfer or "")
    if r.active and hdr:
        out.append(
            f"{name} the source is HDR ({hdr}); {model} expects SDR pictures and restyles the "
            f"{hdr} code values as they are, so colours and contrast will look wrong (the "
            "output keeps the HDR tags)"
        )
    if r.active and info.bit_depth > 8:
        out.append(
            f"{name} the {info.bit_depth}-bit source is restyled at 8 bits ({model} takes "
            "8-bit pictures)"
        )
    if info.color_space in UNCONVERTED_MATRICES:
        out.append(
            f"{name} the source's {info.color_space} matrix is not one vidx converts; it is "
            "decoded as BT.709 (HD) or BT.601 (SD), so colours may be off"
        )
    dst = av.VideoFormat(settings.pixel_format)
    if settings.codec == "h264" and t.options.encode.pix_fmt is None:
        if _chroma(dst) != "4:2:0" or dst.components[0].bits > 8:
            out.append(
                f"{name} written as {settings.pixel_format} h264 to keep the source's depth and "
                "chroma; browsers and phones play only yuv420p h264 (--pix-fmt yuv420p, or "
                "--codec hevc for 10-bit)"
            )
    return out


def _chroma(fmt: av.VideoFormat) -> str:
    """``4:2:0``, ``4:2:2``, ``4:4:4`` (or ``4:0:0`` for gray) from the format's name."""
    if len(fmt.components) < 3:
        return "4:0:0"
    for tag in ("420", "422", "411", "440"):
        if tag in fmt.name:
            return ":".join(tag)
    return "4:4:4"


def _keep(src: av.VideoFormat, dst: av.VideoFormat) -> str:
    depth = "10le" if "10" in dst.name else ""
    return "yuv" + _chroma(src).replace(":", "") + "p" + depth


def _execute(job: Plan, on_progress: ProgressCallback | None, command: str) -> JobResult:
    result = _run(job, on_progress, command)
    said = [n for t in job.targets for n in notices(job.info, t)]
    masked = any(t.options.restyle.masked for t in job.targets)
    if masked and job.shared.run.segment_frames > 0 and not job.image_input:
        said.append(  # (segments start fresh: a tracked box would jump back at each one)
            "--mask/--keep: the job ran as one piece, not in resumable segments"
        )
    if job.sequence is not None and job.shared.input.fps is None:
        said.insert(0, f"{job.input}: read at {DEFAULT_RATE} fps (no --fps given)")
    result.warnings[:0] = said
    return result


def _run(job: Plan, on_progress: ProgressCallback | None, command: str) -> JobResult:
    with OutputLock([t.path for t in job.targets], command=command):
        _check_paths(job.targets, job.reads)  # again, under the lock: another run may have ended
        if job.image_input and all(t.image for t in job.targets):
            return _run_still(job)
        if job.shared.run.distributed:
            return _run_on_ray(job, on_progress)
        if job.shared.run.threads:
            from vidx.scale.worker import set_threads

            set_threads(job.shared.run.threads)  # torch, OpenCV, onnxruntime
        loading = models_phase(job.targets)
        if loading:
            say_phase(on_progress, loading)
        outputs = build_outputs(job.targets, job.info.pix_fmt)
        context = job_context(job, on_progress, load_raft=True)
        if job.targets[0].sequence:
            first = replace(outputs[0], first_number=job.info.first_number or 1)
            return run_sequence(context, first, job.info, job.shared.run)
        if not job.segmented:
            return run(context, outputs)
        try:
            return run_segmented(context, outputs, job.shared.run)
        except BaseException:
            discard_unstarted(outputs)  # a parts folder with no finished segment is not kept
            raise


def job_context(
    job: Plan, on_progress: ProgressCallback | None = None, *, load_raft: bool = False
) -> JobContext:
    """What every runner of ``job`` needs (:class:`vidx.pipeline.JobContext`): the flow only
    when an output needs it, the RAFT weights loaded when it asks for RAFT and ``load_raft``."""
    shared = job.shared
    analysis = shared.analysis if any(_temporal(t.options) for t in job.targets) else None
    raft_state = None
    if load_raft and analysis is not None and analysis.flow == "raft":
        from vidx.weights import load_raft_model

        raft_state = load_raft_model(
            Path(analysis.raft_weights or ""), allow_pickle=shared.device.allow_pickle
        )
    return JobContext(
        job.source,
        trim=trim_of(shared, job.info),
        analysis=analysis,
        raft_state=raft_state,
        deinterlace=shared.input.deinterlace,
        threads=shared.run.threads,
        on_progress=on_progress,
    )


def _run_on_ray(job: Plan, on_progress: ProgressCallback | None) -> JobResult:
    """``--workers``/``--ray``: the segments go to Ray workers (see vidx.scale.ray_runner)."""
    from vidx.scale.ray_runner import import_ray, run_on_ray

    import_ray(job.shared.run)  # a one-line error without the extra, before any work
    if not job.segmented:
        raise OptionError(
            "needs a segmented job (--segment-frames > 0, a video, no --compare, --mask or --keep)",
            param="workers",
        )
    context = replace(job_context(job, on_progress), source=job.input)
    return run_on_ray(context, job.info, job.targets, build_outputs)


@dataclass(frozen=True)
class RunPlan:
    """How a checked job will run (``--plan``, and ``-v`` before it runs): in one piece, or
    cut into :class:`vidx.jobs.segment_plan.SegmentPlan` segments, here or on Ray."""

    input: Path
    outputs: list[Path]
    segments: SegmentPlan | None  # None: one piece
    whole: str | None = None  # why the job runs in one piece
    ray: str | None = None  # where its segments render on Ray (None: in this process)


def run_plan(job: Plan, on_progress: ProgressCallback | None = None) -> RunPlan:
    """The plan ``job`` will run, from :func:`vidx.jobs.segment_plan.plan_job` (the planner both
    executors use), without building a model or writing a file."""
    outputs = [t.path for t in job.targets]
    run_opts = job.shared.run
    if not job.segmented:
        return RunPlan(job.input, outputs, None, _whole(job))
    ray = None
    if run_opts.distributed:
        ray = f"{run_opts.workers} local workers" if run_opts.workers else "the cluster"
        ray += f" at {run_opts.ray}" if run_opts.ray and not run_opts.workers else ""
    context = replace(job_context(job, on_progress), source=job.input)
    segments = plan_job(context, job_kind(job.targets), run_opts)
    return RunPlan(job.input, outputs, segments, None, ray)


def job_kind(targets: list[Target]) -> JobKind:
    """What the segment planner knows of the outputs (:class:`vidx.jobs.segment_plan.JobKind`), from
    the options alone: the restylers' backends, whether only classical resamplers run."""
    names = tuple(t.options.restyle.backend for t in targets if t.options.restyle.active)
    known = [REGISTRY.get(t.options.upscale.upscaler) for t in targets]
    classical = all(k is not None and k.kind == "classical" for k in known)
    return JobKind(names, not names and classical)


def _whole(job: Plan) -> str:
    """Why ``job`` is not cut into segments."""
    if job.shared.run.segment_frames == 0:
        return "--segment-frames 0"
    if job.image_input:
        return "a picture input"
    if job.sequence is not None:
        return "an image-sequence input"
    if any(t.sequence for t in job.targets):
        return "an image-sequence output"
    if any(t.options.size.compare for t in job.targets):
        return "--compare"
    return "--mask/--keep (segments would start the tracked region afresh)"


def models_phase(targets: list[Target]) -> str | None:
    """The phase message while a job builds its models: what it loads (None: no model, only
    classical resamplers)."""
    names: list[str] = []
    for t in targets:
        o = t.options
        if o.restyle.active:
            names.append(Path(o.restyle.model).name if o.restyle.model else "style network")
        known = REGISTRY.get(o.upscale.upscaler)
        if known is None or known.kind != "classical":
            names.append(Path(o.upscale.upscaler).name)
    return f"loading models ({', '.join(dict.fromkeys(names))})" if names else None


def _temporal(options: JobOptions) -> bool:
    """Whether the job needs the optical flow for ``options``: a temporal restyle, a mask or
    box that follows the motion, or a learned upscaler made steady (``upscale_temporal``)."""
    r, u = options.restyle, options.upscale
    known = REGISTRY.get(u.upscaler)
    learned = known is None or known.kind != "classical"
    return (r.active and (r.temporal or r.masked)) or (u.upscale_temporal and learned)


def trim_of(options: JobOptions, info: VideoInfo | None = None) -> Trim:
    """The reader's trim in seconds; ``--start``/``--duration`` given as frame counts
    (``120f``) count at the input's frame rate (``info``)."""
    t = options.trim
    start, duration = t.seconds(frame_rate(info) if info is not None else None)
    return Trim(start, duration, t.max_frames)


def frame_rate(info: VideoInfo) -> Fraction | None:
    """The input's frame rate: its average rate, or frames over duration where the average is
    no frame rate (Matroska's millisecond stamps can make it 1000)."""
    rate = as_fraction(info.average_rate)
    if rate and 1 <= rate <= 240:
        return rate
    if info.frames and info.duration:
        return Fraction(info.frames) / Fraction(info.duration)
    return rate


def build_outputs(targets: list[Target], source_pix_fmt: str | None = None) -> list[Output]:
    """Load each target's upscaler and restyler (an upscaler shared by several targets is
    loaded once) and describe the pipeline's outputs (alpha kept where the source has it and
    the profile can hold it, see :func:`vidx.io.writer.keeping_alpha`)."""
    from vidx.regions import RegionTrack
    from vidx.restyle.factory import make_restyler, with_refine
    from vidx.upscale.factory import make_upscaler, steadied

    upscalers: dict[tuple, object] = {}
    outputs = []
    for t in targets:
        o = t.options
        key = (o.upscale.upscaler, o.upscale.tile, o.upscale.upscaler_compile, o.device)
        if key not in upscalers:
            upscalers[key] = make_upscaler(
                o.upscale.upscaler,
                device=o.device.device,
                dtype=o.device.dtype,
                tile=o.upscale.tile,
                allow_pickle=o.device.allow_pickle,
                compile=o.upscale.upscaler_compile,
            )
        restyler = make_restyler(o.restyle, o.device) if o.restyle.active else None
        region = None
        if restyler is not None and o.restyle.masked:
            region = RegionTrack(o.restyle.mask, o.restyle.keep, o.restyle.mask_feather)
        upscaler = steadied(upscalers[key], o.upscale.upscale_temporal)  # type: ignore[arg-type]
        upscaler = with_refine(upscaler, o.restyle, restyler, o.device)  # type: ignore[arg-type]
        outputs.append(
            Output(
                t.path,
                upscaler,
                parse_size(o.size.size),
                o.size.fit,
                keeping_alpha(o.encode.settings(), source_pix_fmt),
                restyler,
                name=t.name,
                compare=o.size.compare,
                options=o,
                region=region,
                exr=o.encode.exr,
                temporal=o.restyle.temporal,
            )
        )
    return outputs


def _run_still(job: Plan) -> JobResult:
    from vidx.pipeline import Timings

    out = build_outputs(job.targets)[0]
    t = job.targets[0]
    summary = process_still(
        job.input,
        t.path,
        restyler=out.restyler,
        upscaler=out.upscaler,
        size=out.size,
        fit=out.fit,
        params=t.options.to_dict(),
        region=out.region,
    )
    timings = Timings(total=summary["timings_s"]["total"])
    return JobResult([t.path], 1, timings, summary["warnings"], {})
