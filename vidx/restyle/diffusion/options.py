"""Every knob of the diffusion restyle backend, with the checks that name a bad value."""

from __future__ import annotations

from dataclasses import dataclass

from vidx.errors import OptionError
from vidx.options import (
    CFG_MODES,
    CFG_NEGATIVES,
    COLOR_MATCHES,
    CONTROL_KINDS,
    FUSIONS,
    MAX_GUIDANCE,
    MAX_STEPS,
    NOISE_WARPS,
    PIXEL_FUSIONS,
    SCHEDULERS,
    attention_blocks,
)
from vidx.prompt_schedule import INTERPOLATIONS, parse_schedule, resolve


@dataclass
class DiffusionOptions:
    """Settings of ``DiffusionRestyler`` (and the defaults of ``DiffusionRefiner``).

    ``strength`` is the img2img strength of keyframes; non-keyframes that start from the warped
    previous latent use ``reuse_strength`` (fewer UNet steps). Each temporal step of
    DESIGN.md "Temporal consistency" has its own switch and weight:

    - ``latent_blend`` / ``latent_blend_weight``: start latent = current latent blended with the
      warped previous final latent inside the flow mask (weight of the warped one).
    - ``warp_noise`` / ``warp_noise_weight``: noise warped from the previous frame (fresh noise in
      disoccluded pixels); the weight is the share of fresh noise mixed in everywhere.
      Off: every frame uses the same seeded noise (what a plain per-frame loop does).
      ``noise_warp`` picks the method: ``"integral"`` (default; follows sub-pixel motion and
      stays i.i.d. Gaussian, with ``noise_subcells`` sub-cells per latent pixel) or
      ``"nearest"`` (the old nearest-neighbour gather).

    ``fusion``: ``"x0"`` (default) steadies toward a reference built from the anchor (the last
    keyframe's latent warped once along the flow composed since then) and, for the first
    ``fusion_steps`` fraction of the steps, blends the predicted clean latent x̂0 with it by
    ``fusion_weight`` inside a strict (``mask_dilate`` cells), feathered (``mask_feather``
    cells) mask, variance-compensated; before that, unreliable specks of the pixel mask thinner
    than ``mask_open`` latent cells are removed (an opening; 0 keeps every pixel); ``pull`` is
    not used. ``"latent"`` is the 0.1 method (previous final latent re-warped every frame, then
    pulled). ``anchor_keyframes``: a
    periodic keyframe that comes with a flow (not a scene cut) re-renders at ``strength`` but
    is fused toward the previous frames instead of starting fresh.

    ``lcm_cfg``: a UNet with a guidance embedding (LCM-distilled, ``time_cond_proj_dim``) takes
    ``guidance`` through the embedding only; set this to also run classifier-free guidance.
    ``cfg`` picks the classifier-free guidance wherever there is some (``guidance > 1``, and
    for such UNets only with ``lcm_cfg``): ``"full"`` (a negative batch row every step),
    ``"residual"`` (StreamDiffusion's RCFG, one row a step; ``cfg_negative="self"``: the
    negative leads back to the frame's start latent, ``"once"``: a real negative on the first
    step of each frame, ``denoise.ResidualNegative``) or ``"none"``.

    ``similarity_threshold`` > 0: the stochastic similarity filter (StreamDiffusion). A frame
    whose working image has cosine similarity ``c`` to the last *rendered* one's (so slow
    change adds up and is not skipped for ever) is not rendered (it shows what the propagation
    carries into it; without propagation the last output as is) with probability
    ``max(0, 1 - (1 - c) / (1 - threshold))``, drawn from a generator seeded by ``seed``, at
    most ``max_skip`` frames in a row; scene cuts are never skipped.
    ``vae``: a diffusers autoencoder folder (``AutoencoderKL`` or the tiny ``AutoencoderTiny``)
    replacing the model's.
    - ``pull`` / ``pull_steps`` / ``pull_weight``: for the first ``pull_steps`` fraction of the
      denoising steps, move the latent toward the renoised warped previous latent inside the mask.
    - ``cross_frame_attn``: self-attention also attends to the anchor's (last keyframe's) and
      the previous frame's features, on reused frames and anchored keyframes, in the UNet
      blocks ``cross_frame_blocks`` names (``"all"`` or a comma list of down, mid, up).
    - ``color_anchor`` / ``color_anchor_weight``: colour continuity. ``color_match="follow"``
      (default): masked statistics of the previous output warped into this frame, changed as
      the source changed (a fade stays a fade), on every frame tied to the past (anchored
      keyframes too); ``"keyframe"``: the 0.1 global AdaIN to the last keyframe's output.

    ``pixel_fusion``: pixel-aware fusion (Rerender-A-Video). On the first fused step the x̂0 is
    decoded, the previous output warped in pixel space replaces it inside the mask, and the
    composite is encoded again (``"fidelity"``: compensating the autoencoder's loss; ``"plain"``;
    ``"off"``) and blended into the fusion reference by ``pixel_fusion_weight``.

    ``propagate``: pixel-space propagation (``propagate.Propagator``): where an anchor keyframe
    still sees the frame (checked on the source frames), its output is shown resampled once
    along the composed flow; else the patch of the frame that first rendered that content;
    else the previous output warped once where the pair's flow is reliable; the frame's own
    render only where none is. Keyframes become anchors (fading in). ``skip_covered`` > 0: a
    frame between keyframes of which these layers hold at least that share is not rendered at
    all (its few uncovered pixels are filled from the previous output and rendered by a later
    frame), at most ``max_skip`` frames in a row; the latent state follows the flow.

    ``controlnet``: a ControlNet folder (or cached hub id) steering every UNet call with the
    ``control`` image (``canny``, ``edges`` or ``depth`` with ``depth_model``) computed from
    each source frame at the working size, at conditioning scale ``control_strength``, for the
    ``[control_start, control_end]`` fraction of the steps run; ``control_guess`` is guess mode
    (``vidx.restyle.diffusion.control``).
    ``lora``: ``(path, weight)`` pairs (``.safetensors``). ``prompt_schedule``: keys in frames
    (``vidx.prompt_schedule``), blended in over ``prompt_transition`` frames by
    ``prompt_interpolation``. ``ip_adapter``: an SD1.x IP-Adapter file that conditions every
    frame on ``style_image`` at ``ip_adapter_scale``.
    """

    model: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    strength: float = 0.5
    steps: int = 20
    guidance: float = 7.5
    scheduler: str = "ddim"
    seed: int = 0
    work_size: int = 512
    device: str = "auto"
    dtype: str = "auto"
    allow_pickle: bool = False
    latent_blend: bool = True
    latent_blend_weight: float = 0.9
    warp_noise: bool = True
    warp_noise_weight: float = 0.0
    pull: bool = True
    pull_steps: float = 0.5
    pull_weight: float = 0.5
    cross_frame_attn: bool = True
    color_anchor: bool = True
    color_anchor_weight: float = 1.0
    reuse_strength: float = 0.35
    compile: bool = False
    noise_warp: str = "integral"
    noise_subcells: int = 8
    lcm_cfg: bool = False
    fusion: str = "x0"
    fusion_steps: float = 0.5
    fusion_weight: float = 0.8
    anchor_keyframes: bool = True
    mask_dilate: int = 1
    mask_feather: float = 1.0
    mask_open: float = 0.4
    pixel_fusion: str = "off"
    pixel_fusion_weight: float = 0.5
    propagate: bool = True
    color_match: str = "follow"
    cross_frame_blocks: str = "all"
    controlnet: str = ""
    control: str = "canny"
    control_strength: float = 1.0
    control_start: float = 0.0
    control_end: float = 1.0
    control_guess: bool = False
    depth_model: str = ""
    lora: tuple[tuple[str, float], ...] = ()
    prompt_schedule: str | None = None
    prompt_transition: int = 12
    prompt_interpolation: str = "linear"
    ip_adapter: str | None = None
    style_image: str | None = None
    ip_adapter_scale: float = 0.6
    cfg: str = "full"
    cfg_negative: str = "self"
    similarity_threshold: float = 0.0
    max_skip: int = 10
    skip_covered: float = 0.99
    vae: str = ""

    def check(self) -> DiffusionOptions:
        """Raise OptionError naming the first bad value (``param``); returns self."""
        if not isinstance(self.model, str) or not self.model.strip():
            raise OptionError(
                "is required for the diffusion restyle (a folder, a .safetensors file or a hub id)",
                param="model",
            )
        _unit("strength", self.strength, zero_ok=False)
        _unit("reuse_strength", self.reuse_strength, zero_ok=False)
        for name in (
            "latent_blend_weight",
            "warp_noise_weight",
            "pull_steps",
            "pull_weight",
            "color_anchor_weight",
            "fusion_steps",
            "fusion_weight",
            "pixel_fusion_weight",
        ):
            _unit(name, getattr(self, name))
        _integer("steps", self.steps, 1, MAX_STEPS)
        if not isinstance(self.guidance, (int, float)) or not 0 <= self.guidance <= MAX_GUIDANCE:
            raise OptionError(
                f"must be between 0 and {MAX_GUIDANCE:g}, got {self.guidance!r}", param="guidance"
            )
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _integer("work_size", self.work_size, 64, 4096)
        if self.work_size % 8:
            raise OptionError(f"must be a multiple of 8, got {self.work_size!r}", param="work_size")
        _choice("fusion", self.fusion, FUSIONS)
        _integer("mask_dilate", self.mask_dilate, 0, 8)
        if not isinstance(self.mask_feather, (int, float)) or not 0 <= self.mask_feather <= 8:
            raise OptionError(f"must be in [0, 8], got {self.mask_feather!r}", param="mask_feather")
        if not isinstance(self.mask_open, (int, float)) or not 0 <= self.mask_open <= 2:
            raise OptionError(f"must be in [0, 2], got {self.mask_open!r}", param="mask_open")
        _choice("noise_warp", self.noise_warp, NOISE_WARPS)
        _choice("pixel_fusion", self.pixel_fusion, PIXEL_FUSIONS)
        _choice("color_match", self.color_match, COLOR_MATCHES)
        attention_blocks(self.cross_frame_blocks)
        _integer("noise_subcells", self.noise_subcells, 1, 16)
        self._check_control()
        self._check_prompts()
        _choice("cfg", self.cfg, CFG_MODES)
        _choice("cfg_negative", self.cfg_negative, CFG_NEGATIVES)
        _unit("similarity_threshold", self.similarity_threshold)
        _integer("max_skip", self.max_skip, 0, 1000)
        _unit("skip_covered", self.skip_covered)
        return self

    def _check_control(self) -> None:
        _choice("control", self.control, CONTROL_KINDS)
        s = self.control_strength
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not 0 <= s <= 5:
            raise OptionError(f"must be in [0, 5], got {s!r}", param="control_strength")
        _unit("control_start", self.control_start)
        _unit("control_end", self.control_end)
        if self.control_end <= self.control_start:
            raise OptionError(
                f"must be above control_start ({self.control_start:g}), got {self.control_end!r}",
                param="control_end",
            )
        if self.controlnet and self.control == "depth" and not self.depth_model:
            raise OptionError(
                "depth needs depth_model (a local depth-estimation folder)", param="control"
            )

    def _check_prompts(self) -> None:
        _integer("prompt_transition", self.prompt_transition, 0, 100_000)
        _choice("prompt_interpolation", self.prompt_interpolation, INTERPOLATIONS)
        if self.prompt_schedule is not None:
            self.schedule()
        if self.ip_adapter is not None and self.style_image is None:
            raise OptionError("needs style_image (the picture it follows)", param="ip_adapter")

    def schedule(self) -> list[tuple[int, str]]:
        """The prompt schedule as ``[(frame, prompt)]`` from frame 0 (just the prompt when
        there is none); keys must be in frames here (the job's plan converts seconds)."""
        if self.prompt_schedule is None:
            return [(0, self.prompt)]
        return resolve(parse_schedule(self.prompt_schedule), None, self.prompt or None)

    @property
    def reuse(self) -> bool:
        """Whether non-keyframes start from the previous frame's latent at ``reuse_strength``."""
        return self.latent_blend and self.latent_blend_weight > 0


def _unit(name: str, value: float, *, zero_ok: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not ((value >= 0 if zero_ok else value > 0) and value <= 1):
        bound = "[0, 1]" if zero_ok else "(0, 1]"
        raise OptionError(f"must be in {bound}, got {value!r}", param=name)


def _integer(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise OptionError(f"must be an integer from {low} to {high}, got {value!r}", param=name)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"must be one of {', '.join(allowed)}, got {value!r}", param=name)


def work_size_for(height: int, width: int, work_size: int, multiple: int = 8) -> tuple[int, int]:
    """Working resolution ``(h, w)``: short side ``work_size``, aspect kept, both multiples of
    ``multiple`` (at least ``multiple``)."""
    short = min(height, width)
    scale = work_size / short

    def snap(n: float) -> int:
        return max(multiple, int(round(n / multiple)) * multiple)

    return snap(height * scale), snap(width * scale)
