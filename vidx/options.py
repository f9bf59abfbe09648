"""Every user option of vidx, declared once.

Each option group is a frozen dataclass: its fields are the options, with their defaults, their
help text and their checks. The CLI flags, the TOML job-file keys, the Python API's keyword
arguments, the sidecar's ``params`` and the resume manifest are all derived from these classes
(as diffusers derives a pipeline's config from its ``__init__``), so a default or a check is
written in one place only.

Convention: option names are unique across groups, so a flat ``{name: value}`` mapping (CLI
keyword arguments, a job-file table, ``vidx.render(**options)``) routes to one group each.
Errors are :class:`OptionError` naming the option (``param``); each face spells it its own way.
"""

from __future__ import annotations

import functools
import math
import re
import types
import typing
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from vidx.errors import OptionError
from vidx.values.pixels import MAX_PIXELS, MAX_PIXELS_CEILING, check_limit
from vidx.values.prompt_schedule import INTERPOLATIONS
from vidx.values.ray_address import parse_address

if TYPE_CHECKING:
    from vidx.values.encode import EncodeSettings

SCHEMA = 1  # version of the option layout recorded in sidecars and resume manifests

# the --help panels, in the order the CLI shows them
IO = "Input and output"
S, R, D, T, E, RUN = "Size", "Restyle", "Diffusion", "Temporal", "Encode", "Run"
PANELS = (IO, S, R, D, T, E, RUN)


@dataclass(frozen=True)
class Opt:
    """What the faces need to know about one option besides its name, type and default.

    ``job``: may appear in a job file; ``shared_only``: only in its ``[shared]`` table (it is
    computed once for every variant); ``path``: a file path, resolved against the job file's
    folder there and checked against the outputs; ``resume``: part of the resume manifest
    (False for options that may change between a run and its resumption); ``flag`` and
    ``aliases``: the CLI's spellings when not ``--name``.
    """

    help: str
    panel: str
    choices: tuple[str, ...] | None = None
    job: bool = True
    shared_only: bool = False
    path: bool = False
    resume: bool = True
    flag: str | None = None
    aliases: tuple[str, ...] = ()  # further CLI spellings of the flag

    @staticmethod
    def of(f: Field) -> Opt:
        return f.metadata["vidx"]


def option(default: Any, help: str, panel: str, **meta: Any) -> Any:
    """A dataclass field carrying its :class:`Opt`."""
    return field(default=default, metadata={"vidx": Opt(help, panel, **meta)})


def choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"must be one of {', '.join(allowed)}, got {value!r}", param=name)


def number(
    name: str, value: Any, low: float | None = None, high: float | None = None, *, open_low=False
) -> None:
    """Finite, and within ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        left = "(" if open_low else "["
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise OptionError(f"must be a finite number in {bounds}, got {value!r}", param=name)


G = TypeVar("G", bound="OptionGroup")


class OptionGroup:
    """Shared behaviour of the option dataclasses."""

    group: ClassVar[str]  # the attribute of JobOptions holding this group

    @classmethod
    def options(cls) -> list[Field]:
        """The group's own options (nested groups excluded)."""
        return [f for f in fields(cls) if "vidx" in f.metadata]  # type: ignore[arg-type]

    @classmethod
    def nested(cls) -> list[Field]:
        return [f for f in fields(cls) if "vidx" not in f.metadata]  # type: ignore[arg-type]

    @classmethod
    def names(cls) -> list[str]:
        names = [f.name for f in cls.options()]
        for f in cls.nested():
            names += hints(cls)[f.name].names()
        return names

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_flat(cls: type[G], values: dict[str, Any]) -> G:
        """Build from a flat ``{option: value}`` mapping (nested groups' options included);
        keys the group does not know are ignored (see :meth:`JobOptions.from_flat`)."""
        own = {f.name: values[f.name] for f in cls.options() if f.name in values}
        for f in cls.nested():
            own[f.name] = hints(cls)[f.name].from_flat(values)
        for name, value in own.items():
            check_type(cls, name, value)
            if isinstance(value, list):  # a repeatable option from a job file or the CLI
                own[name] = tuple(value)
        return cls(**own)

    def flat(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in self.options()}
        for f in self.nested():
            out.update(getattr(self, f.name).flat())
        return out

    def with_values(self: G, **values: Any) -> G:
        """A copy with some options replaced (flat names, nested groups included)."""
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise OptionError(f"is not an option of {type(self).__name__}", param=unknown[0])
        return type(self).from_flat({**self.flat(), **values})


_HINTS: dict[type, typing.Mapping[str, Any]] = {}


def hints(cls: type) -> typing.Mapping[str, Any]:
    """``cls``'s resolved annotations, once per class (resolving them for every flag took most
    of a second of each command's start-up)."""
    if cls not in _HINTS:
        _HINTS[cls] = types.MappingProxyType(typing.get_type_hints(cls))
    return _HINTS[cls]


def allowed_types(cls: type, name: str) -> tuple[type, ...]:
    """The runtime types an option accepts (``float`` also takes ``int``; a repeatable
    ``tuple[str, ...]`` option also takes a list, as a job file writes it)."""
    hint = hints(cls)[name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    out: list[type] = []
    for arg in args:
        if typing.get_origin(arg) is tuple:
            out += [tuple, list]
        else:
            out += [int, float] if arg is float else [type(None) if arg is None else arg]
    return tuple(out)


def item_type(cls: type, name: str) -> type | None:
    """The item type of a repeatable option (``tuple[str, ...]`` -> ``str``), else None."""
    hint = hints(cls)[name]
    return typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None


def check_type(cls: type, name: str, value: Any) -> None:
    if isinstance(value, OptionGroup):
        return
    allowed = allowed_types(cls, name)
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    item = item_type(cls, name)
    if ok and item is not None:
        ok = all(isinstance(v, item) for v in value)
    if not ok:
        words = {type(None): "none", float: "a number", int: "an integer", str: "text"}
        if item is not None:
            words[tuple] = f"a list of {words.get(item, item.__name__)}"
        wanted = [
            words.get(t, t.__name__)
            for t in allowed
            if not (t is int and float in allowed) and t is not list
        ]
        raise OptionError(f"must be {' or '.join(wanted)}, got {value!r}", param=name)


@dataclass(frozen=True)
class TrimOptions(OptionGroup):
    """Which part of the input to process. ``start`` and ``duration`` are seconds (a number,
    or text: ``1.5``, ``HH:MM:SS[.ms]``, ``MM:SS``) or a frame count (``120f``); after the
    checks a time is a float and a frame count stays text, resolved with the input's frame
    rate by :meth:`seconds` (at plan time, where the rate is known)."""

    group: ClassVar[str] = "trim"
    start: float | str = option(
        0.0, "Start here: seconds, HH:MM:SS[.ms] or a frame count (120f).", IO, shared_only=True
    )
    duration: float | str | None = option(
        None, "Process this long: seconds, HH:MM:SS[.ms] or frames (120f).", IO, shared_only=True
    )
    max_frames: int | None = option(None, "Process at most this many frames.", IO, shared_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", parse_time("start", self.start))
        if self.duration is not None:
            object.__setattr__(self, "duration", parse_time("duration", self.duration))
        if self.max_frames is not None:
            number("max_frames", self.max_frames, 1)

    def seconds(self, rate: Fraction | float | None) -> tuple[float, float | None]:
        """``(start, duration)`` in seconds, frame counts divided by ``rate`` (frames/s)."""

        def resolve(name: str, value: float | str) -> float:
            if isinstance(value, str):  # "120f"
                if not rate:
                    raise OptionError(
                        f"{value} needs the input's frame rate, which is unknown; give seconds",
                        param=name,
                    )
                return float(Fraction(int(value[:-1])) / Fraction(rate))
            return float(value)

        duration = None if self.duration is None else resolve("duration", self.duration)
        return resolve("start", self.start), duration


TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


def parse_time(name: str, value: Any) -> float | str:
    """Seconds as a float, or a frame count as ``"Nf"``; ``start`` may be 0, ``duration`` not."""
    low_ok = name == "start"
    if isinstance(value, str):
        text = value.strip().lower()
        frames = re.fullmatch(r"(\d+)\s*f", text)
        clock = TIME.match(text)
        if frames and (int(frames[1]) > 0 or low_ok):
            return f"{int(frames[1])}f"
        if clock:
            hours, minutes, secs = int(clock[1] or 0), int(clock[2]), float(clock[3])
            if minutes < 60 and secs < 60:
                value = (hours * 60 + minutes) * 60 + secs
        else:
            try:
                value = float(text)
            except ValueError:
                pass
        if isinstance(value, str):
            raise OptionError(
                f"must be seconds (1.5), HH:MM:SS[.ms] or a frame count (120f), got {value!r}",
                param=name,
            )
    number(name, value, 0, open_low=not low_ok)
    return float(value)


FITS = ("contain", "cover", "stretch")
COMPARE_MODES = ("side", "split", "stack")


@dataclass(frozen=True)
class SizeOptions(OptionGroup):
    """The output picture: its size, how the frame fits it, and an optional before/after."""

    group: ClassVar[str] = "size"
    size: str = option(
        "source", "source, 720p, 1080p, 1440p, 4k, 8k, WxH, or x2 .. x8 (within --max-pixels).", S
    )
    fit: str = option("contain", "contain (pad black), cover (crop) or stretch.", S, choices=FITS)
    compare: str | None = option(
        None,
        "Also write OUTPUT.compare.EXT: side, split or stack (source | result).",
        IO,
        choices=COMPARE_MODES,
    )

    def __post_init__(self) -> None:
        from vidx.values.sizes import parse_size

        parse_size(self.size)
        choice("fit", self.fit, FITS)
        if self.compare is not None:
            choice("compare", self.compare, COMPARE_MODES)


EXR = ("half", "float")


@dataclass(frozen=True)
class EncodeOptions(OptionGroup):
    """How the video is encoded; None takes the codec's default."""

    group: ClassVar[str] = "encode"
    codec: str = option("h264", "h264, hevc, av1, prores or dnxhr (.mov/.mxf).", E)
    crf: int | None = option(None, "Quality (lower is better); codec default.", E)
    preset: str | None = option(None, "Encoder speed preset (x264/x265 names, 0-13 for av1).", E)
    pix_fmt: str | None = option(None, "e.g. yuv420p, yuv420p10le.", E)
    profile: str | None = option(
        None,
        "prores: proxy, lt, standard, hq (default), 4444, 4444xq; dnxhr: lb, sq, hq (default), "
        "hqx, 444.",
        E,
    )
    exr: str = option(
        "half", "EXR sequence output (-o out/%06d.exr): half or float samples.", E, choices=EXR
    )

    def __post_init__(self) -> None:
        self.settings()  # the encoder's own checks
        choice("exr", self.exr, EXR)

    def settings(self) -> EncodeSettings:
        from vidx.values.encode import EncodeSettings

        return EncodeSettings(self.codec, self.crf, self.preset, self.pix_fmt, self.profile)


@dataclass(frozen=True)
class UpscaleOptions(OptionGroup):
    """The upscaler that brings each frame to the output size."""

    group: ClassVar[str] = "upscale"
    upscaler: str = option(
        "lanczos", "A built-in name (see `vidx models`) or a spandrel model file.", S
    )
    tile: int | None = option(None, "Upscaler tile size in pixels (auto).", S)
    upscaler_compile: bool = option(
        False, "torch.compile the upscaler network (GPU; the first frames are slower).", S
    )
    upscale_temporal: bool = option(
        True,
        "Learned upscalers: hold unchanged detail steady along the flow (no shimmer) and "
        "skip tiles whose source did not change.",
        S,
    )

    def __post_init__(self) -> None:
        if not self.upscaler.strip():
            raise OptionError("must name an upscaler, got ''", param="upscaler")
        if self.tile is not None:
            number("tile", self.tile, 32, 8192)


NOISE_WARPS = ("integral", "nearest")
FUSIONS = ("x0", "latent")
PIXEL_FUSIONS = ("fidelity", "plain", "off")
COLOR_MATCHES = ("follow", "keyframe")
ATTENTION_BLOCKS = ("down", "mid", "up")
CFG_MODES = ("full", "residual", "none")
CFG_NEGATIVES = ("self", "once")
SCHEDULERS = ("euler", "euler-a", "ddim", "dpm++", "lcm", "model")
# bounds of the restyle options that had none: beyond them a value is a mistake, not a choice
MAX_STEPS = 1000  # diffusion steps
MAX_GUIDANCE = 50.0  # classifier-free guidance scale
SEED_RANGE = (-(2**63), 2**63 - 1)  # a 64-bit seed, as torch.Generator.manual_seed takes it
MAX_PROMPT_CHARS = 10_000  # CLIP reads 77 tokens; far longer text is a paste gone wrong
# each backend's default of the options RestyleOptions leaves None (``RestyleOptions.resolved``)
STYLE_STRENGTH, DIFFUSION_STRENGTH = 1.0, 0.5
STYLE_WORK_SIZE, DIFFUSION_WORK_SIZE = 1024, 512  # style: long side cap; diffusion: short side
# the temporal steps ``temporal=False`` turns off (``RestyleOptions.resolved``)
TEMPORAL_SWITCHES = (
    "latent_blend",
    "warp_noise",
    "pull",
    "cross_frame_attn",
    "color_anchor",
    "anchor_keyframes",
    "propagate",
)


def attention_blocks(text: str) -> tuple[str, ...]:
    """``"all"`` or a comma list of down, mid, up -> the UNet blocks with cross-frame attention."""
    words = [w.strip() for w in str(text).lower().split(",") if w.strip()]
    if words == ["all"]:
        return ATTENTION_BLOCKS
    if not words or any(w not in ATTENTION_BLOCKS for w in words):
        raise OptionError(
            f"must be all or a comma list of {', '.join(ATTENTION_BLOCKS)}, got {text!r}",
            param="cross_frame_blocks",
        )
    return tuple(b for b in ATTENTION_BLOCKS if b in words)


@dataclass(frozen=True)
class DiffusionTemporalOptions(OptionGroup):
    """The diffusion backend's temporal steps, each with its own switch (docs/DESIGN.md,
    "Temporal consistency"; ``vidx.restyle.diffusion.DiffusionRestyler`` describes each).

    ``reuse_dilate``, ``reuse_feather`` and ``reuse_open`` shape the *reuse* mask (where a
    frame takes the past along the flow), in latent cells; ``RestyleOptions.mask_feather`` is
    the user's restyle region, in source pixels."""

    group: ClassVar[str] = "diffusion_temporal"
    latent_blend: bool = option(True, "Diffusion: start from the warped previous latent.", T)
    warp_noise: bool = option(True, "Diffusion: noise warped along the flow.", T)
    noise_warp: str = option(
        "integral",
        "Diffusion noise warping: integral (sub-pixel, stays Gaussian) or nearest (0.1).",
        T,
        choices=NOISE_WARPS,
    )
    noise_subcells: int = option(8, "Diffusion: sub-cells per latent pixel (integral).", T)
    pull: bool = option(True, "Diffusion: pull early steps toward the warped latent (latent).", T)
    pull_steps: float = option(0.5, "Diffusion: fraction of steps with the pull.", T)
    fusion: str = option(
        "x0",
        "Diffusion: x0 (fuse the prediction toward the anchor) or latent (0.1 pull).",
        T,
        choices=FUSIONS,
    )
    fusion_steps: float = option(0.5, "Diffusion: fraction of steps with x0 fusion.", T)
    fusion_weight: float = option(0.8, "Diffusion: weight of the warped reference in x0.", T)
    anchor_keyframes: bool = option(
        True, "Diffusion: periodic keyframes stay tied to the past (only cuts start fresh).", T
    )
    reuse_dilate: int = option(1, "Diffusion: grow unreliable latent cells by N cells.", T)
    reuse_feather: float = option(1.0, "Diffusion: feather the reuse mask (latent cells).", T)
    reuse_open: float = option(
        0.4, "Diffusion: drop unreliable specks thinner than this many latent cells.", T
    )
    pixel_fusion: str = option(
        "off",
        "Diffusion: fuse toward the anchor output warped in pixel space and re-encoded "
        "(fidelity, plain or off; off by default: it did not help on random weights).",
        T,
        choices=PIXEL_FUSIONS,
    )
    pixel_fusion_weight: float = option(
        0.5, "Diffusion: weight of the re-encoded previous output in the reference.", T
    )
    propagate: bool = option(
        True,
        "Diffusion: show the anchor keyframes' output carried along the flow where it still "
        "matches the source (render only the rest).",
        T,
    )
    cross_frame_attn: bool = option(
        True, "Diffusion: attend to the anchor keyframe and the previous frame.", T
    )
    cross_frame_blocks: str = option(
        "down,mid",
        "Diffusion: UNet blocks with cross-frame attention: all, or a list of down, mid, up "
        "(up-block attention also copies fine texture from the past: less detail).",
        T,
    )
    color_anchor: bool = option(True, "Diffusion: colour continuity with the past.", T)
    color_match: str = option(
        "follow",
        "Diffusion colour: follow (warped previous output, moved as the source moves) or "
        "keyframe (0.1 AdaIN).",
        T,
        choices=COLOR_MATCHES,
    )
    reuse_strength: float = option(
        0.35, "Diffusion: strength of non-keyframes started from the warped latent.", T
    )
    lcm_cfg: bool = option(
        False, "Diffusion: LCM-distilled UNets also get classifier-free guidance.", D
    )
    similarity_threshold: float = option(
        0.0,
        "Diffusion: a frame this similar (cosine, e.g. 0.99) to the last rendered one may "
        "reuse its result; skips become likelier as it nears 1 (0 = off).",
        T,
    )
    max_skip: int = option(10, "Diffusion: at most this many frames in a row reuse a result.", T)
    skip_covered: float = option(
        0.99,
        "Diffusion: a frame between keyframes of which propagation holds at least this share "
        "is shown without rendering; the rest is filled in and rendered later (0 = off).",
        T,
    )

    def __post_init__(self) -> None:
        choice("noise_warp", self.noise_warp, NOISE_WARPS)
        number("noise_subcells", self.noise_subcells, 1, 16)
        number("pull_steps", self.pull_steps, 0, 1)
        choice("fusion", self.fusion, FUSIONS)
        number("fusion_steps", self.fusion_steps, 0, 1)
        number("fusion_weight", self.fusion_weight, 0, 1)
        number("reuse_dilate", self.reuse_dilate, 0, 8)
        number("reuse_feather", self.reuse_feather, 0, 8)
        number("reuse_open", self.reuse_open, 0, 2)
        choice("pixel_fusion", self.pixel_fusion, PIXEL_FUSIONS)
        number("pixel_fusion_weight", self.pixel_fusion_weight, 0, 1)
        choice("color_match", self.color_match, COLOR_MATCHES)
        attention_blocks(self.cross_frame_blocks)
        number("reuse_strength", self.reuse_strength, 0, 1, open_low=True)
        number("similarity_threshold", self.similarity_threshold, 0, 1)
        number("max_skip", self.max_skip, 0, 1000)
        number("skip_covered", self.skip_covered, 0, 1)


CONTROL_KINDS = ("canny", "edges", "depth")


@dataclass(frozen=True)
class DiffusionControlOptions(OptionGroup):
    """ControlNet structure guidance of the diffusion restyle: the ControlNet, the control image
    computed from each source frame, and how strongly and when it steers
    (``vidx.restyle.diffusion.control``)."""

    group: ClassVar[str] = "diffusion_control"
    controlnet: str | None = option(
        None, "ControlNet folder (or cached hub id) for the diffusion restyle.", D, path=True
    )
    control: str = option(
        "canny",
        "Control image from each frame: canny, edges (soft Sobel edges) or depth (--depth-model).",
        D,
        choices=CONTROL_KINDS,
    )
    control_strength: float = option(1.0, "ControlNet conditioning scale (0: no effect).", D)
    control_start: float = option(0.0, "ControlNet steers from this fraction of the steps.", D)
    control_end: float = option(1.0, "ControlNet steers until this fraction of the steps.", D)
    control_guess: bool = option(False, "ControlNet guess mode (prompt half only).", D)
    depth_model: str | None = option(
        None, "Depth-estimation model folder (transformers) for --control depth.", D, path=True
    )

    def __post_init__(self) -> None:
        choice("control", self.control, CONTROL_KINDS)
        number("control_strength", self.control_strength, 0, 5)
        number("control_start", self.control_start, 0, 1)
        number("control_end", self.control_end, 0, 1)
        if self.control_end <= self.control_start:
            raise OptionError(
                f"must be above control_start ({self.control_start:g}), got {self.control_end!r}",
                param="control_end",
            )
        if self.controlnet and self.control == "depth" and not self.depth_model:
            raise OptionError(
                "depth needs --depth-model (a local depth-estimation folder); vidx downloads "
                "nothing. Or use canny / edges",
                param="control",
            )


@dataclass(frozen=True)
class RestyleOptions(OptionGroup):
    """The restyle: the embedded style network (``style``/``style_image``) or Stable Diffusion
    img2img (``prompt`` and ``model``). ``strength`` None is the backend's default (1.0 for
    style, 0.5 for diffusion); ``work_size`` None too (style: long side 1024, diffusion: short
    side 512). ``temporal`` False turns every temporal step off at once."""

    group: ClassVar[str] = "restyle"
    style: str | int | None = option(
        None, "Embedded style 0-25 or its name, or a blend like 3:0.5,12:0.5.", R
    )
    style_image: str | None = option(
        None, "Any picture to take the style from (embedded backend).", R, path=True
    )
    prompt: str | None = option(
        None, "Text prompt: selects the Stable Diffusion backend (needs --model).", D
    )
    negative_prompt: str = option("", "Diffusion negative prompt.", D)
    model: str | None = option(
        None,
        "Diffusers folder, single .safetensors file, hub id (cached), or small-sd (built in).",
        D,
        path=True,
    )
    strength: float | None = option(
        None, "0..1; style: blend with the source (default 1), diffusion: img2img (0.5).", R
    )
    steps: int = option(20, f"Diffusion steps (1 to {MAX_STEPS}).", D)
    guidance: float = option(7.5, f"Classifier-free guidance scale (0 to {MAX_GUIDANCE:g}).", D)
    cfg: str = option(
        "full",
        "Guidance: full (a negative UNet batch row every step), residual (one row a step; "
        "the negative from the start latent) or none.",
        D,
        choices=CFG_MODES,
    )
    cfg_negative: str = option(
        "self",
        "Residual guidance's negative: self (no extra UNet work) or once (a real negative on "
        "each frame's first step).",
        D,
        choices=CFG_NEGATIVES,
    )
    vae: str | None = option(
        None,
        "Diffusion: another autoencoder (a diffusers folder, e.g. a tiny AutoencoderTiny).",
        D,
        path=True,
    )
    scheduler: str = option(
        "ddim", "euler, euler-a, ddim, dpm++, lcm or model.", D, choices=SCHEDULERS
    )
    seed: int = option(0, "Random seed (a 64-bit integer).", D)
    work_size: int | None = option(
        None, "Diffusion: short side (default 512); style: long side cap (default 1024).", R
    )
    temporal: bool = option(
        True, "Reuse the previous frame along the optical flow (steady output).", T
    )
    temporal_weight: float = option(
        0.7,
        "Style backend: share of the previous output, carried along the flow, in each frame "
        "where the stabiliser trusts it (0: per frame; 1: held).",
        T,
    )
    lora: tuple[str, ...] = option(
        (),
        "Diffusion LoRA, a .safetensors file: PATH or PATH:WEIGHT (1); repeat for more.",
        D,
        path=True,
    )
    prompt_schedule: str | None = option(
        None,
        "Diffusion prompts over time: '0:snowy street; 4s:spring street; 96:summer street' "
        "(keys in frames, seconds 4s or MM:SS, from the first frame written).",
        D,
    )
    prompt_transition: str | int = option(
        "12", "Blend into each scheduled prompt over this many frames (12) or seconds (0.5s).", D
    )
    prompt_interpolation: str = option(
        "linear",
        "Blend of scheduled prompts' embeddings: linear or slerp.",
        D,
        choices=INTERPOLATIONS,
    )
    ip_adapter: str | None = option(
        None,
        "Diffusion: IP-Adapter .safetensors (SD1.x; its image_encoder/ folder beside it) that "
        "makes --style-image guide the restyle.",
        D,
        path=True,
    )
    ip_adapter_scale: float = option(0.6, "Diffusion: weight of the IP-Adapter's image.", D)
    refine_strength: float = option(0.0, "Diffusion detail refine after upscaling (0 = off).", D)
    compile: bool = option(False, "torch.compile the UNet (GPU).", D)
    mask: str | None = option(
        None,
        "Restyle only where this picture or video is white (black keeps the source); a picture "
        "follows the motion.",
        R,
        path=True,
    )
    keep: str | None = option(
        None,
        "Keep these boxes as the source, drawn on the first frame and following the motion: "
        "x,y,w,h in pixels or fractions (0.1,0.8,0.2,0.15); several with ';'.",
        R,
    )
    mask_feather: float = option(4.0, "Soften the edge of --mask/--keep over this many px.", R)
    diffusion_temporal: DiffusionTemporalOptions = field(default_factory=DiffusionTemporalOptions)
    diffusion_control: DiffusionControlOptions = field(default_factory=DiffusionControlOptions)

    def __post_init__(self) -> None:
        if isinstance(self.style, int) and not isinstance(self.style, bool):
            object.__setattr__(self, "style", str(self.style))  # a job file's `style = 5`
        if self.style is not None:
            from vidx.values.styles import parse_style

            parse_style(self.style)  # a number, a name or a blend
        diffusion = self.backend == "diffusion"
        if diffusion and self.style is not None:
            raise OptionError(
                "is for diffusion; give either a prompt or a style/style_image, not both",
                param="prompt",
            )
        if diffusion and self.style_image is not None and self.ip_adapter is None:
            raise OptionError(
                "with a prompt needs --ip-adapter (a diffusion model takes a picture's style "
                "through an IP-Adapter)",
                param="style_image",
            )
        if not diffusion and self.model is not None:
            raise OptionError("needs a prompt (the diffusion backend)", param="model")
        self._check_diffusion_extras(diffusion)
        if diffusion and not self.model:
            raise OptionError(
                "is required for the diffusion restyle (a folder, a .safetensors file or a hub id)",
                param="model",
            )
        if self.strength is not None:
            number("strength", self.strength, 0, 1, open_low=diffusion)
        self._check_bounds()
        number("temporal_weight", self.temporal_weight, 0, 1)
        number("refine_strength", self.refine_strength, 0, 1)
        if self.refine_strength and not diffusion:
            raise OptionError(
                "needs a prompt and a model (diffusion refine)", param="refine_strength"
            )
        if self.work_size is not None:
            number("work_size", self.work_size, 64, 4096)
            if diffusion and self.work_size % 8:
                raise OptionError(
                    f"must be a multiple of 8, got {self.work_size!r}", param="work_size"
                )
        choice("cfg", self.cfg, CFG_MODES)
        choice("cfg_negative", self.cfg_negative, CFG_NEGATIVES)
        if self.vae is not None and self.prompt is None:
            raise OptionError("needs a prompt and a model (diffusion backend)", param="vae")
        if self.diffusion_control.controlnet and self.prompt is None:
            raise OptionError("needs a prompt and a model (diffusion restyle)", param="controlnet")
        if self.keep is not None:
            from vidx.values.boxes import parse_boxes

            parse_boxes(self.keep)
        number("mask_feather", self.mask_feather, 0, 256)
        for name in ("mask", "keep"):
            if getattr(self, name) is not None and not self.active:
                raise OptionError(
                    "needs a restyle (a style, a style image or a prompt)", param=name
                )
        if self.mask is not None and not self.mask.strip():
            raise OptionError("must name a picture or a video, got ''", param="mask")

    def _check_bounds(self) -> None:
        """The diffusion numbers and texts that are checked here, not only when a model loads."""
        number("steps", self.steps, 1, MAX_STEPS)
        number("guidance", self.guidance, 0, MAX_GUIDANCE)
        number("seed", self.seed, *SEED_RANGE)
        choice("scheduler", self.scheduler, SCHEDULERS)
        for name in ("prompt", "negative_prompt"):
            text = getattr(self, name) or ""
            if len(text) > MAX_PROMPT_CHARS:
                raise OptionError(
                    f"is {len(text)} characters, over the limit of {MAX_PROMPT_CHARS}", param=name
                )

    def resolved(self) -> RestyleOptions:
        """These options as the backend runs them, the one place that decides it: ``strength``
        and ``work_size`` left None take the backend's default (``STYLE_*``,
        ``DIFFUSION_*``), ``temporal=False`` turns every diffusion temporal step off (x̂0
        fusion's weight and ``skip_covered`` too; the latter also without ``propagate``), and
        ``reuse_strength`` is at most ``strength``. Resolving twice changes nothing."""
        diffusion = self.backend == "diffusion"
        strength = self.strength
        if strength is None:
            strength = DIFFUSION_STRENGTH if diffusion else STYLE_STRENGTH
        work_size = self.work_size or (DIFFUSION_WORK_SIZE if diffusion else STYLE_WORK_SIZE)
        t, on = self.diffusion_temporal, self.temporal
        switches: dict[str, Any] = {name: on and getattr(t, name) for name in TEMPORAL_SWITCHES}
        temporal = replace(
            t,
            **switches,
            fusion_weight=t.fusion_weight if on else 0.0,
            skip_covered=t.skip_covered if on and t.propagate else 0.0,
            reuse_strength=min(t.reuse_strength, strength),
        )
        return replace(self, strength=strength, work_size=work_size, diffusion_temporal=temporal)

    @property
    def masked(self) -> bool:
        """Whether only part of each frame is restyled (``mask`` or ``keep``)."""
        return self.mask is not None or self.keep is not None

    def _check_diffusion_extras(self, diffusion: bool) -> None:
        """LoRAs, the prompt schedule and the IP-Adapter (each only with a diffusion model)."""
        object.__setattr__(self, "lora", tuple(self.lora))
        given = [n for n in ("lora", "prompt_schedule", "ip_adapter") if getattr(self, n)]
        if given and not diffusion:
            raise OptionError("needs a prompt and a model (the diffusion backend)", param=given[0])
        for text in self.lora:
            parse_lora(text)
        if self.prompt_schedule is not None:
            from vidx.values.prompt_schedule import parse_schedule, resolve

            keys = parse_schedule(self.prompt_schedule)
            if not any(k.seconds for k in keys):  # with seconds: checked again with the rate
                resolve(keys, None, self.prompt)
        from vidx.values.prompt_schedule import parse_transition

        parse_transition(self.prompt_transition)
        choice("prompt_interpolation", self.prompt_interpolation, INTERPOLATIONS)
        number("ip_adapter_scale", self.ip_adapter_scale, 0, 4)
        if self.ip_adapter is not None:
            if not self.ip_adapter.lower().endswith(".safetensors"):
                raise OptionError(
                    f"must be a .safetensors file (pickled weights are refused), got "
                    f"{self.ip_adapter!r}",
                    param="ip_adapter",
                )
            if self.style_image is None:
                raise OptionError(
                    "needs --style-image (the picture it follows)", param="ip_adapter"
                )
            if self.refine_strength:
                raise OptionError("and --refine-strength cannot be combined", param="ip_adapter")

    @property
    def backend(self) -> str:
        diffusion = self.prompt is not None or self.prompt_schedule is not None
        return "diffusion" if diffusion else "style"

    @property
    def active(self) -> bool:
        """Whether anything asks for a restyle (a style, a style image or a prompt)."""
        asks = (self.style, self.style_image, self.prompt, self.prompt_schedule)
        return any(v is not None for v in asks)


LORA_WEIGHT = re.compile(r"^(?P<path>.+):(?P<weight>[-+]?(?:\d+\.?\d*|\.\d+))$")


def parse_lora(text: str) -> tuple[str, float]:
    """``"style.safetensors:0.7"`` -> ``("style.safetensors", 0.7)``; no weight is 1.0.

    Only ``.safetensors`` files: a pickled LoRA (.bin/.pt/.ckpt/.pth) could run code when read.
    """
    m = LORA_WEIGHT.match(text.strip())
    path, weight = (m["path"], float(m["weight"])) if m else (text.strip(), 1.0)
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix in ("bin", "pt", "pth", "ckpt"):
        raise OptionError(
            f"{path!r} is a pickled file; LoRAs are read from .safetensors only (convert it)",
            param="lora",
        )
    if suffix != "safetensors":
        raise OptionError(
            f"must be a .safetensors file (PATH[:WEIGHT]), got {text!r}", param="lora"
        )
    number("lora", weight, -4, 4)
    return path, weight


FLOW_METHODS = ("dis", "farneback", "raft")
SEAMS = ("auto", "carry", "warmup")
# temporal.DIS_PRESETS, named here so a job without analysis never imports torch
FLOW_PRESETS = ("ultrafast", "fast", "medium", "fine")


@dataclass(frozen=True)
class AnalysisOptions(OptionGroup):
    """Optical flow, masks, scene cuts and keyframes, computed once on the source for every
    output of a job."""

    group: ClassVar[str] = "analysis"
    keyframe_interval: int = option(
        30,
        "Keyframe every N frames (0: only frame 0 and scene cuts); diffusion renders it at the "
        "full strength, the style backend keeps blending through it.",
        T,
        shared_only=True,
    )
    scene_cuts: bool = option(True, "Keyframes at detected scene cuts.", T, shared_only=True)
    flow: str = option(
        "dis", "Optical flow: dis, farneback or raft.", T, choices=FLOW_METHODS, shared_only=True
    )
    flow_preset: str = option(
        "medium",
        "DIS preset: ultrafast, fast, medium, fine.",
        T,
        choices=FLOW_PRESETS,
        shared_only=True,
    )
    analysis_size: int = option(
        640, "Long side (px) at which flow is computed.", T, shared_only=True
    )
    raft_weights: str | None = option(
        None,
        "RAFT weights file (.safetensors; pickles need --allow-pickle).",
        T,
        shared_only=True,
        path=True,
    )
    warmup_frames: int = option(
        16,  # the style backend's 0.7 blend forgets its start to 0.3 % in 16 (SCALING.md)
        "Frames before each segment run (not written) to prime its temporal state.",
        T,
        shared_only=True,
    )
    seams: str = option(
        "auto",
        "How a segment goes on from the one before: carry (its end state; segments render in "
        "order), warmup (primed by --warmup-frames; segments render side by side), auto "
        "(carry for diffusion, warmup otherwise).",
        T,
        choices=SEAMS,
        shared_only=True,
    )

    def __post_init__(self) -> None:
        choice("flow", self.flow, FLOW_METHODS)
        number("warmup_frames", self.warmup_frames, 0, 240)
        choice("seams", self.seams, SEAMS)
        choice("flow_preset", self.flow_preset, FLOW_PRESETS)
        number("analysis_size", self.analysis_size, 64, 4096)
        number("keyframe_interval", self.keyframe_interval, 0)
        if self.flow == "raft" and not self.raft_weights:
            raise OptionError(
                "needs raft_weights (a weights file; nothing is downloaded)", param="flow"
            )


DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class DeviceOptions(OptionGroup):
    """Where models run, and whether pickled weight files may be loaded (never from a job
    file: only the person running vidx can allow that)."""

    group: ClassVar[str] = "device"
    device: str = option("auto", "auto, cpu or cuda.", RUN, choices=DEVICES, shared_only=True)
    dtype: str = option("auto", "auto, fp32, fp16 or bf16.", RUN, choices=DTYPES, shared_only=True)
    allow_pickle: bool = option(
        False,
        "Allow pickled model files (.pth/.ckpt), loaded with weights_only=True.",
        RUN,
        job=False,
    )

    def __post_init__(self) -> None:
        if not (self.device in DEVICES or self.device.startswith("cuda:")):
            raise OptionError(
                f"must be one of {', '.join(DEVICES)}, got {self.device!r}", param="device"
            )
        choice("dtype", self.dtype, DTYPES)


def parse_rate(value: float | str) -> Fraction:
    """``24``, ``23.976``, ``"25"`` or ``"24000/1001"`` -> a positive Fraction (frames/s).

    Raises:
        OptionError: not a number or a rational, or not in (0, 1000].
    """
    try:
        rate = Fraction(str(value).strip()) if not isinstance(value, bool) else None
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None or not 0 < rate <= 1000:
        raise OptionError(
            f"must be a frame rate such as 24, 25, 29.97 or 24000/1001, got {value!r}",
            param="fps",
        )
    return rate


DEINTERLACE = ("auto", "off")


@dataclass(frozen=True)
class InputOptions(OptionGroup):
    """How the input is read."""

    group: ClassVar[str] = "input"
    deinterlace: str = option(
        "auto",
        "auto: deinterlace interlaced sources (bwdif); off: keep fields.",
        IO,
        choices=DEINTERLACE,
        shared_only=True,
    )
    max_pixels: int = option(
        MAX_PIXELS,
        "Refuse inputs (every frame, a sequence's included), outputs (the size --size gives), "
        f"style images and masks with more pixels than this; at most {MAX_PIXELS_CEILING} "
        "(32768x32768).",
        IO,
        shared_only=True,
    )
    skip_bad_frames: bool = option(
        False,
        "Image-sequence input: skip frames that cannot be decoded (counted in one warning) "
        "instead of stopping.",
        IO,
        shared_only=True,
        resume=False,  # (a run stopped by a bad frame may go on with it)
    )
    fps: float | str | None = option(
        None,
        "Frame rate of an image-sequence input: 24, 25, 29.97 or 24000/1001 (default 24).",
        IO,
        shared_only=True,
    )

    def __post_init__(self) -> None:
        choice("deinterlace", self.deinterlace, DEINTERLACE)
        check_limit(self.max_pixels)
        if self.fps is not None:
            parse_rate(self.fps)

    @property
    def rate(self) -> Fraction | None:
        """``fps`` as a Fraction (None: not given)."""
        return None if self.fps is None else parse_rate(self.fps)


DEFAULT_SEGMENT_FRAMES = 240


@dataclass(frozen=True)
class RunOptions(OptionGroup):
    """How the job runs: resumable segments, and what it may replace."""

    group: ClassVar[str] = "run"
    segment_frames: int = option(
        DEFAULT_SEGMENT_FRAMES,
        "Frames per resumable segment (0 = one piece, no resume).",
        RUN,
        job=False,
    )
    passes: int = option(
        1,
        "Carried diffusion segments: 1 renders them in order, the streaming mode; 2 renders "
        "each segment's first frame (keyframe) first, then the segments side by side, each "
        "going on from its keyframe and toward the next.",
        RUN,
        shared_only=True,
    )
    resume: bool = option(
        True,
        "Continue from OUTPUT.parts/ after a crash (re-running does the same).",
        RUN,
        job=False,
        resume=False,
    )
    restart: bool = option(
        False, "Discard OUTPUT.parts/ and start over.", RUN, job=False, resume=False
    )
    overwrite: bool = option(False, "Replace existing outputs.", IO, job=False, resume=False)
    workers: int = option(
        0,
        "Render segments on N Ray workers on this machine (0: in this process; needs vidx[ray]).",
        RUN,
        job=False,
        resume=False,
    )
    threads_per_worker: int | None = option(
        None,
        "CPU threads per Ray worker (default: the cores shared among the workers).",
        RUN,
        job=False,
        resume=False,
    )
    threads: int = option(
        0,
        "CPU threads for decoding, encoding, resizing and models (0: every core).",
        RUN,
        shared_only=True,
        resume=False,
    )
    parallel_segments: int = option(
        0,
        "Segments rendered at once when no model runs, so encoders fill every core (0: auto).",
        RUN,
        job=False,
        resume=False,
    )
    ray: str | None = option(
        None,
        "Join the Ray cluster at this address (or set RAY_ADDRESS); needs vidx[ray].",
        RUN,
        job=False,
        resume=False,
    )
    ray_timeout: float = option(
        30.0,
        "Seconds to wait for the Ray cluster at --ray/RAY_ADDRESS to answer, then to join it.",
        RUN,
        job=False,
        resume=False,
    )

    plan: bool = option(
        False,
        "Print how the job will be cut (segments, carried or primed, scene cuts, side by side, "
        "Ray) and exit without rendering; with --timeline, the pieces, their frames and the "
        "media not found.",
        RUN,
        job=False,
        resume=False,
        aliases=("--dry-run",),
    )

    def to_dict(self) -> dict[str, Any]:
        """As recorded in a sidecar: without ``plan`` (a job that renders was not asked for
        its plan only)."""
        data = super().to_dict()
        data.pop("plan")
        return data

    def __post_init__(self) -> None:
        number("segment_frames", self.segment_frames, 0)
        if self.passes not in (1, 2) or isinstance(self.passes, bool):
            raise OptionError(f"must be 1 or 2, got {self.passes!r}", param="passes")
        number("workers", self.workers, 0, 4096)
        number("threads", self.threads, 0, 1024)
        number("parallel_segments", self.parallel_segments, 0, 64)
        if self.threads_per_worker is not None:
            number("threads_per_worker", self.threads_per_worker, 1, 1024)
        number("ray_timeout", self.ray_timeout, 0, 3600, open_low=True)
        if self.ray is not None:
            parse_address(self.ray)  # the syntax now; whether it answers when the job runs

    @property
    def distributed(self) -> bool:
        """Whether segments go to Ray workers (``--workers N`` or ``--ray ADDRESS``)."""
        return self.workers > 0 or self.ray is not None


@dataclass(frozen=True)
class TimelineOptions(OptionGroup):
    """An edit as the input (``vidx restyle|upscale|variants --timeline EDIT -o OUTDIR/``): not
    options of a job but of the edit, whose shots become one job each (``vidx.jobs.timeline``).
    ``handles`` is a frame count, or seconds as text (``0.5s``) counted at each media's rate by
    :meth:`handle_frames`."""

    group: ClassVar[str] = "timeline"
    timeline: str | None = option(
        None,
        "An edit (.otio, .edl, .xml): render only the source ranges its video clips use (plus "
        "--handles) into -o OUTDIR/ and write the edit back relinked to them.",
        IO,
        job=False,
    )
    media_root: str | None = option(
        None,
        "Folder where the edit's media are found by path, reel or clip name (default: the "
        "edit's folder).",
        IO,
        job=False,
    )
    handles: int | str = option(
        12,
        "Extra source rendered before and after each use of a clip: frames (12) or seconds (0.5s).",
        IO,
        job=False,
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "handles", parse_handles(self.handles))

    def handle_frames(self, rate: Fraction | float | None) -> int:
        """``handles`` in frames at ``rate`` (seconds round up; no rate: 24 fps)."""
        if isinstance(self.handles, int):
            return self.handles
        return math.ceil(float(self.handles[:-1]) * float(rate or 24) - 1e-9)


def parse_handles(value: Any) -> int | str:
    """A frame count as an int (``12``, ``"12"``, ``"12f"``), seconds as ``"0.5s"``."""
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if isinstance(value, bool):
        text = ""
    frames = re.fullmatch(r"(\d+)\s*f?", text)
    seconds = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*s", text)
    if frames and int(frames[1]) <= 100_000:
        return int(frames[1])
    if seconds and float(seconds[1]) <= 3600:
        return f"{float(seconds[1]):g}s"
    raise OptionError(
        f"must be frames (12) or seconds (0.5s), at most an hour, got {value!r}", param="handles"
    )


GROUPS: tuple[type[OptionGroup], ...] = (
    TrimOptions,
    SizeOptions,
    EncodeOptions,
    UpscaleOptions,
    RestyleOptions,
    AnalysisOptions,
    DeviceOptions,
    InputOptions,
    RunOptions,
)


@dataclass(frozen=True)
class JobOptions:
    """Every option of one job, group by group."""

    trim: TrimOptions = field(default_factory=TrimOptions)
    size: SizeOptions = field(default_factory=SizeOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    upscale: UpscaleOptions = field(default_factory=UpscaleOptions)
    restyle: RestyleOptions = field(default_factory=RestyleOptions)
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    device: DeviceOptions = field(default_factory=DeviceOptions)
    input: InputOptions = field(default_factory=InputOptions)
    run: RunOptions = field(default_factory=RunOptions)

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> JobOptions:
        """Route a flat ``{option: value}`` mapping to its groups; an unknown name, a wrong
        type or a bad value is an OptionError naming the option."""
        known = all_options()
        for name in values:
            if name not in known:
                raise OptionError("is not a vidx option", param=name)
        return cls(**{g.group: g.from_flat(values) for g in GROUPS})  # type: ignore[arg-type]

    def flat(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for g in GROUPS:
            out.update(getattr(self, g.group).flat())
        return out

    def with_values(self, **values: Any) -> JobOptions:
        return JobOptions.from_flat({**self.flat(), **values})

    def to_dict(self, *, resume_only: bool = False) -> dict[str, Any]:
        """``{"schema": N, group: {option: value}}``: the sidecar's ``params`` and, with
        ``resume_only``, the settings a resumed run must share (run-only options left out)."""
        data: dict[str, Any] = {"schema": SCHEMA}
        for g in GROUPS:
            values = getattr(self, g.group).to_dict()
            if resume_only:
                values = {
                    k: v
                    for k, v in values.items()
                    if k not in all_options() or Opt.of(all_options()[k][1]).resume
                }
            data[g.group] = values
        return data


@functools.cache
def all_options() -> typing.Mapping[str, tuple[type[OptionGroup], Field]]:
    """Every option name -> (its group class, its field), nested groups flattened (once)."""
    out: dict[str, tuple[type[OptionGroup], Field]] = {}

    def add(cls: type[OptionGroup]) -> None:
        for f in cls.options():
            if f.name in out:
                raise RuntimeError(f"option {f.name!r} is declared twice")  # a bug in vidx
            out[f.name] = (cls, f)
        for f in cls.nested():
            add(hints(cls)[f.name])

    for g in GROUPS:
        add(g)
    return types.MappingProxyType(out)


@functools.cache
def every_option() -> typing.Mapping[str, tuple[type[OptionGroup], Field]]:
    """:func:`all_options` and the options of an edit (:class:`TimelineOptions`): the flags of
    the commands that take ``--timeline``."""
    out = dict(all_options())
    for f in TimelineOptions.options():
        if f.name in out:
            raise RuntimeError(f"option {f.name!r} is declared twice")  # a bug in vidx
        out[f.name] = (TimelineOptions, f)
    return types.MappingProxyType(out)


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc,operator]


__all__ = [
    "SCHEMA",
    "AnalysisOptions",
    "DeviceOptions",
    "DiffusionControlOptions",
    "DiffusionTemporalOptions",
    "EncodeOptions",
    "InputOptions",
    "JobOptions",
    "RestyleOptions",
    "RunOptions",
    "SizeOptions",
    "TimelineOptions",
    "TrimOptions",
    "UpscaleOptions",
    "all_options",
    "every_option",
    "replace",
]
