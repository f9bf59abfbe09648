"""ControlNet structure guidance: a control image from each source frame, its residuals in every
UNet call.

The control image is computed here from the source frame at the working size, so it moves with
the source and the temporal steps (fusion, warped noise, cross-frame attention) act on top of
it unchanged:

- ``canny``: OpenCV's Canny at fixed thresholds (no per-frame auto threshold: a steady scene
  keeps a steady edge map);
- ``edges``: a soft edge map without a learned detector (HED-free): the Sobel gradient magnitude
  of the lightly blurred luma, mapped through a fixed saturating curve;
- ``depth``: a depth estimator the user supplies (a transformers depth-estimation folder such as
  DPT or Depth Anything), normalised with a slowly moving range so depth does not breathe.

``ControlNetGuide.residuals`` runs the ControlNet on the same (possibly guidance-doubled) batch
the UNet gets and returns the ``down_block_additional_residuals`` /
``mid_block_additional_residual`` keywords; ``at_step`` applies the start/end fractions of the
steps run, as diffusers' ControlNet pipelines do.

Convention: pictures ``(H, W, 3)`` uint8 RGB; the control tensor ``(1, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import torch

from vidx.errors import ModelError
from vidx.options import CONTROL_KINDS, DiffusionControlOptions
from vidx.restyle.controlnet_files import checked_weights, model_folder
from vidx.restyle.diffusion.loading import _dtype_kwargs
from vidx.restyle.diffusion.working import check_frame

CANNY_LOW, CANNY_HIGH = 100, 200  # OpenCV Canny hysteresis thresholds (diffusers' examples)
EDGE_BLUR_SIGMA = 1.0  # px: the soft edge map ignores single-pixel noise
EDGE_SCALE = 64.0  # Sobel magnitude at which the soft edge reaches 1 - 1/e
DEPTH_RANGE_MEMORY = 0.8  # share of the previous depth range kept each frame
DEPTH_PERCENTILES = (1.0, 99.0)  # the depth range ignores the extreme 1% at either end


def _check_rgb(image: np.ndarray) -> np.ndarray:
    return check_frame(image, "a control source")


def canny_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> Canny edges ``(H, W, 3)`` uint8, 0 or 255 (white edges)."""
    gray = cv2.cvtColor(_check_rgb(image), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, CANNY_LOW, CANNY_HIGH)
    return np.repeat(edges[:, :, None], 3, axis=2)


def soft_edge_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> soft edges ``(H, W, 3)`` uint8: ``255 (1 - exp(-|grad| / s))`` of
    the blurred luma's Sobel gradient (a fixed curve, so the same edge gives the same value in
    every frame)."""
    luma = cv2.cvtColor(_check_rgb(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(luma, (0, 0), EDGE_BLUR_SIGMA)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    soft = 1.0 - np.exp(-np.sqrt(gx * gx + gy * gy) / EDGE_SCALE)
    out = np.round(255.0 * soft).astype(np.uint8)
    return np.repeat(out[:, :, None], 3, axis=2)


class DepthEstimator:
    """A transformers depth-estimation model from a local folder; ``__call__`` gives the relative
    depth map ``(H, W)`` float32 of an RGB frame (larger = nearer, as MiDaS-style models and
    depth ControlNets use)."""

    def __init__(self, path: str, device: torch.device, allow_pickle: bool = False) -> None:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        folder = model_folder(path, "--depth-model")
        checked_weights(path, "--depth-model", allow_pickle)
        try:
            self.processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
            self.model = AutoModelForDepthEstimation.from_pretrained(
                folder, local_files_only=True, use_safetensors=None if allow_pickle else True
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"--depth-model {path!r} cannot be loaded: {_first(exc)}") from None
        self.model.to(device).eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = _check_rgb(image).shape[:2]
        inputs = self.processor(images=image, return_tensors="pt").to(self.device)
        depth = self.model(**inputs).predicted_depth
        depth = torch.nn.functional.interpolate(
            depth[:, None].float(), size=(h, w), mode="bicubic", align_corners=False
        )
        return depth[0, 0].cpu().numpy()


class ControlImager:
    """The control image of each frame for one ``kind`` (``CONTROL_KINDS``); ``depth`` needs a
    ``DepthEstimator``. Holds the depth range across frames; ``reset`` at a new clip."""

    def __init__(self, kind: str, depth: DepthEstimator | None = None) -> None:
        if kind not in CONTROL_KINDS:
            raise ValueError(f"control must be one of {', '.join(CONTROL_KINDS)}, got {kind!r}")
        if kind == "depth" and depth is None:
            raise ModelError("--control depth needs --depth-model (a depth-estimation folder)")
        self.kind, self.depth = kind, depth
        self.reset()

    def reset(self) -> None:
        self._range: tuple[float, float] | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.kind == "canny":
            return canny_image(image)
        if self.kind == "edges":
            return soft_edge_image(image)
        assert self.depth is not None
        return self._depth_image(self.depth(image))

    def _depth_image(self, depth: np.ndarray) -> np.ndarray:
        lo, hi = (float(v) for v in np.percentile(depth, DEPTH_PERCENTILES))
        if self._range is not None:
            m = DEPTH_RANGE_MEMORY
            lo, hi = m * self._range[0] + (1 - m) * lo, m * self._range[1] + (1 - m) * hi
        self._range = (lo, hi)
        span = hi - lo  # relative depth has no unit: any positive span is a range
        norm = np.clip((depth - lo) / span, 0.0, 1.0) if span > 0 else np.zeros_like(depth)
        out = np.round(255.0 * norm).astype(np.uint8)
        return np.repeat(out[:, :, None], 3, axis=2)


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def weights_sha256(path: Path) -> str:
    """SHA-256 of a weights file (recorded in the sidecar)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_controlnet(path: str, pipe, allow_pickle: bool = False):
    """``(ControlNetModel, weights file)`` from a local folder or a cached hub id, on the
    pipeline's device and dtype, checked to fit the pipeline's UNet and VAE."""
    from diffusers import ControlNetModel

    weights = checked_weights(path, "--controlnet", allow_pickle)
    folder = model_folder(path, "--controlnet")
    dtype = pipe.unet.dtype
    try:
        net = ControlNetModel.from_pretrained(
            folder,
            local_files_only=True,
            use_safetensors=None if allow_pickle else True,
            **_dtype_kwargs(dtype),
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"--controlnet {path!r} cannot be loaded: {_first(exc)}") from None
    check_fits(net, pipe, path)
    return net.to(pipe.unet.device).eval(), weights


def check_fits(net, pipe, path: str) -> None:
    """ModelError unless ``net`` was made for ``pipe``'s base model (cross-attention width,
    SDXL text-time conditioning, and the control embedding's downsampling = the VAE's)."""
    n, u = net.config, pipe.unet.config
    ours, theirs = u.cross_attention_dim, n.cross_attention_dim
    if ours != theirs or u.addition_embed_type != n.addition_embed_type:
        raise ModelError(
            f"--controlnet {path!r} is for another base model (cross-attention width {theirs}, "
            f"{n.addition_embed_type or 'SD1.x/2.x'} conditioning; the model has {ours}, "
            f"{u.addition_embed_type or 'SD1.x/2.x'})"
        )
    down = 2 ** (len(n.conditioning_embedding_out_channels) - 1)
    if down != int(pipe.vae_scale_factor):
        raise ModelError(
            f"--controlnet {path!r} downsamples its control image {down}x, the model's VAE "
            f"{pipe.vae_scale_factor}x; they must match"
        )


class ControlNetGuide:
    """A ControlNet, the control image of the current frame and how strongly it steers.

    ``scale`` is the conditioning scale; ``start``/``end`` the fractions of the steps run during
    which it steers; ``guess`` is diffusers' guess mode (under classifier-free guidance only the
    prompt half gets the residuals, scaled up with depth).
    """

    def __init__(
        self,
        net,
        imager: ControlImager,
        *,
        scale: float = 1.0,
        start: float = 0.0,
        end: float = 1.0,
        guess: bool = False,
    ) -> None:
        self.net, self.imager = net, imager
        self.scale, self.start, self.end, self.guess = float(scale), start, end, guess
        self.image: torch.Tensor | None = None
        self.keep = 1.0
        self.calls = 0  # ControlNet forward calls
        self.info: dict = {}  # what the sidecar records (``make_guide``)

    def reset(self) -> None:
        self.imager.reset()
        self.image = None

    def describe(self) -> dict:
        return {**self.info, "controlnet_calls": self.calls}

    def set_frame(self, image: np.ndarray) -> np.ndarray:
        """Compute the control image of ``image`` (the source frame at the working size);
        returns it as ``(H, W, 3)`` uint8."""
        control = self.imager(image)
        p = next(self.net.parameters())
        t = torch.from_numpy(np.ascontiguousarray(control)).permute(2, 0, 1)[None]
        self.image = t.to(device=p.device, dtype=p.dtype) / 255.0
        return control

    def at_step(self, i: int, n: int) -> None:
        """Step ``i`` of ``n`` is about to run: steer only inside ``[start, end]``."""
        self.keep = 0.0 if (i / n < self.start or (i + 1) / n > self.end) else 1.0

    @torch.no_grad()
    def residuals(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        embeds: torch.Tensor,
        timestep_cond: torch.Tensor | None,
        added: dict | None,
        cfg: bool,
    ) -> dict:
        """The UNet keywords carrying the ControlNet's residuals for the batch ``x`` (already
        scaled by the scheduler, guidance-doubled when ``cfg``); empty when not steering."""
        scale = self.scale * self.keep
        if self.image is None or scale == 0.0:
            return {}
        half = self.guess and cfg
        if half:  # guess mode: the ControlNet sees the prompt half only
            x, embeds = x.chunk(2)[1], embeds.chunk(2)[1]
            if added is not None:
                added = {k: v.chunk(2)[1] for k, v in added.items()}
            if timestep_cond is not None and timestep_cond.shape[0] % 2 == 0:
                timestep_cond = timestep_cond.chunk(2)[1]
        self.calls += 1
        down, mid = self.net(
            x.to(self.image.dtype),
            t,
            encoder_hidden_states=embeds,
            controlnet_cond=self.image.repeat(x.shape[0] // self.image.shape[0], 1, 1, 1),
            conditioning_scale=scale,
            timestep_cond=timestep_cond,
            added_cond_kwargs=added,
            guess_mode=self.guess,
            return_dict=False,
        )
        if half:
            down = [torch.cat([torch.zeros_like(d), d]) for d in down]
            mid = torch.cat([torch.zeros_like(mid), mid])
        return {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}


def make_guide(
    options: DiffusionControlOptions, pipe, allow_pickle: bool = False
) -> ControlNetGuide | None:
    """The guide ``options`` ask for over ``pipe``, or None without a ``controlnet``. Loads the
    ControlNet (and the depth estimator for ``depth``)."""
    if not options.controlnet:
        return None
    net, weights = load_controlnet(options.controlnet, pipe, allow_pickle)
    depth = None
    if options.control == "depth":
        if not options.depth_model:
            raise ModelError("--control depth needs --depth-model (a depth-estimation folder)")
        depth = DepthEstimator(options.depth_model, pipe.unet.device, allow_pickle)
    guide = ControlNetGuide(
        net,
        ControlImager(options.control, depth),
        scale=options.control_strength,
        start=options.control_start,
        end=options.control_end,
        guess=options.control_guess,
    )
    guide.info = {
        "controlnet": options.controlnet,
        "weights": str(weights),
        "sha256": weights_sha256(weights),
        "control": options.control,
        "control_strength": options.control_strength,
        "control_start": options.control_start,
        "control_end": options.control_end,
        "control_guess": options.control_guess,
        "depth_model": options.depth_model or None,
    }
    return guide
