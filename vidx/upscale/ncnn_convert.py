"""Read ncnn ``.param``/``.bin`` files of Real-ESRGAN and turn them into spandrel state dicts.

Only what Real-ESRGAN's exported graphs use is supported: ``Convolution`` (weights + bias,
optional fused leaky-ReLU) and ``PReLU`` carry weights; ``Input``, ``Split``, ``Concat``,
``Eltwise``, ``BinaryOp``, ``Interp`` and ``PixelShuffle`` carry none. Two layouts are recognised:

- RRDBNet (Real-ESRGAN x4plus and friends): convolutions in graph order are ``conv_first``,
  ``body.N.rdbK.convM`` (5 per RDB, 3 RDBs per block), ``conv_body``, ``conv_up1``, ``conv_up2``,
  ``conv_hr``, ``conv_last`` (spandrel's "new arch" ESRGAN keys).
- SRVGGNetCompact (animevideov3): ``Convolution``/``PReLU`` alternate as ``body.0 .. body.N``,
  then ``PixelShuffle`` and the nearest-upsampled input is added.

Convention: ncnn stores convolution weights as ``(out, in, kh, kw)`` like torch, preceded by a
4-byte storage tag; biases and PReLU slopes are raw little-endian float32 without a tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidx.errors import ModelError

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_RAW_SCALED = 0x0002C056
WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}
INTERP_NEAREST = 1


@dataclass
class NcnnLayer:
    """One layer of an ncnn graph: its type, blob names, ``k=v`` params and loaded weights."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, int | float | list[int | float]]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def scalar(self, key: int, default: float = 0) -> float:
        """The scalar param ``key`` (``default`` when absent); ModelError when it is an array."""
        value = self.params.get(key, default)
        if isinstance(value, list):
            raise ModelError(f"ncnn layer {self.name}: param {key} should be a number")
        return value


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_params(tokens: list[str], where: str) -> dict[int, int | float | list[int | float]]:
    params: dict[int, int | float | list[int | float]] = {}
    for token in tokens:
        key_text, sep, value = token.partition("=")
        if not sep:
            raise ModelError(f"{where}: malformed ncnn param {token!r}")
        key = int(key_text)
        if key <= -23300:  # array param: id is -key - 23300, value is "count,v1,v2,..."
            items = [_number(v) for v in value.split(",")]
            params[-key - 23300] = items[1:]
        else:
            params[key] = _number(value)
    return params


def read_param(path: str | Path) -> list[NcnnLayer]:
    """Parse an ncnn ``.param`` text file into its layers (no weights yet)."""
    path = Path(path)
    try:
        lines = path.read_text().split("\n")
    except OSError as exc:
        raise ModelError(f"cannot read ncnn param file {path}: {exc.strerror}") from exc
    lines = [line for line in lines if line.strip()]
    if not lines or lines[0].strip() != str(PARAM_MAGIC):
        raise ModelError(f"{path} is not an ncnn param file (magic {PARAM_MAGIC} missing)")
    layer_count = int(lines[1].split()[0])
    layers = []
    for number, line in enumerate(lines[2 : 2 + layer_count], start=3):
        tokens = line.split()
        where = f"{path}:{number}"
        n_in, n_out = int(tokens[2]), int(tokens[3])
        inputs = tokens[4 : 4 + n_in]
        outputs = tokens[4 + n_in : 4 + n_in + n_out]
        params = _parse_params(tokens[4 + n_in + n_out :], where)
        layers.append(NcnnLayer(tokens[0], tokens[1], inputs, outputs, params))
    if len(layers) != layer_count:
        raise ModelError(f"{path} declares {layer_count} layers but holds {len(layers)}")
    return layers


class _BlobReader:
    """Sequential reader of an ncnn ``.bin`` file, following ncnn's ``ModelBinFromDataReader``."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def _take(self, nbytes: int) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise ModelError(f"{self.path} ends early: the .param asks for more weights")
        chunk = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return chunk

    def raw(self, count: int) -> np.ndarray:
        """``count`` untagged float32 values (ncnn type 1: biases, PReLU slopes)."""
        return np.frombuffer(self._take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        """``count`` values behind a 4-byte storage tag (ncnn type 0: convolution weights)."""
        tag_bytes = self._take(4)
        tag = int.from_bytes(tag_bytes, "little")
        if tag == TAG_FP16:
            padded = (2 * count + 3) // 4 * 4
            return np.frombuffer(self._take(padded)[: 2 * count], "<f2").astype(np.float32)
        if tag == TAG_INT8:
            raise ModelError(f"{self.path} holds int8-quantised weights, which are not supported")
        if tag == TAG_RAW_SCALED or tag == 0:
            return self.raw(count)
        if tag_bytes[0] != 0 or sum(tag_bytes) != 0:  # 8-bit table-quantised data
            table = self.raw(256)
            index = np.frombuffer(self._take((count + 3) // 4 * 4)[:count], np.uint8)
            return table[index]
        raise ModelError(f"{self.path}: unknown ncnn weight tag {tag:#010x}")


def read_ncnn(param_path: str | Path, bin_path: str | Path) -> list[NcnnLayer]:
    """Parse an ncnn model and attach each layer's weights as float32 numpy arrays.

    ``Convolution`` layers get ``weight`` ``(out, in, kh, kw)`` and ``bias`` ``(out,)``;
    ``PReLU`` layers get ``slope`` ``(n,)``.
    """
    layers = read_param(param_path)
    bin_path = Path(bin_path)
    try:
        reader = _BlobReader(bin_path.read_bytes(), bin_path)
    except OSError as exc:
        raise ModelError(f"cannot read ncnn weight file {bin_path}: {exc.strerror}") from exc
    for layer in layers:
        if layer.type == "Convolution":
            out_ch, size = int(layer.scalar(0)), int(layer.scalar(6))
            kw = int(layer.scalar(1))
            kh = int(layer.scalar(11, kw))
            if layer.scalar(8):
                raise ModelError(f"{bin_path}: int8 convolution {layer.name} is not supported")
            weight = reader.tagged(size)
            layer.weights["weight"] = weight.reshape(out_ch, size // (out_ch * kh * kw), kh, kw)
            if layer.scalar(5):
                layer.weights["bias"] = reader.raw(out_ch)
        elif layer.type == "PReLU":
            layer.weights["slope"] = reader.raw(int(layer.scalar(0, 1)))
        elif layer.type not in WEIGHTLESS:
            raise ModelError(f"{param_path}: ncnn layer type {layer.type} is not supported")
    if reader.pos != len(reader.data):
        raise ModelError(f"{bin_path} has {len(reader.data) - reader.pos} unread bytes")
    return layers


def _conv_entries(layer: NcnnLayer, key: str) -> dict[str, torch.Tensor]:
    entries = {f"{key}.weight": torch.from_numpy(layer.weights["weight"])}
    if "bias" in layer.weights:
        entries[f"{key}.bias"] = torch.from_numpy(layer.weights["bias"])
    return entries


def _check_nearest(layers: list[NcnnLayer], path: str) -> None:
    """spandrel's networks upsample with nearest; a trailing Interp (UP2X/UP3X) is exempt."""
    inner = layers[:-1] if trailing_resize(layers) is not None else layers
    for layer in inner:
        if layer.type == "Interp" and layer.params.get(0) != INTERP_NEAREST:
            raise ModelError(f"{path}: upsampling layer {layer.name} is not nearest")


def _rrdb_state_dict(layers: list[NcnnLayer], path: str) -> dict[str, torch.Tensor]:
    convs = [layer for layer in layers if layer.type == "Convolution"]
    body = len(convs) - 6
    if body <= 0 or body % 15:
        raise ModelError(f"{path}: {len(convs)} convolutions do not form an RRDBNet")
    _check_nearest(layers, path)
    names = ["conv_first"]
    names += [f"body.{i // 15}.rdb{i % 15 // 5 + 1}.conv{i % 5 + 1}" for i in range(body)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    state: dict[str, torch.Tensor] = {}
    for name, layer in zip(names, convs, strict=True):
        state.update(_conv_entries(layer, name))
    return state


def _compact_state_dict(layers: list[NcnnLayer], path: str) -> dict[str, torch.Tensor]:
    weighted = [layer for layer in layers if layer.type in ("Convolution", "PReLU")]
    state: dict[str, torch.Tensor] = {}
    for index, layer in enumerate(weighted):
        expected = "Convolution" if index % 2 == 0 else "PReLU"
        if layer.type != expected:
            raise ModelError(f"{path}: layer {layer.name} breaks the conv/PReLU chain")
        if layer.type == "PReLU":
            state[f"body.{index}.weight"] = torch.from_numpy(layer.weights["slope"])
        else:
            state.update(_conv_entries(layer, f"body.{index}"))
    if len(weighted) % 2 == 0:
        raise ModelError(f"{path}: a compact network must end with a convolution")
    shuffles = [layer for layer in layers if layer.type == "PixelShuffle"]
    if len(shuffles) != 1:
        raise ModelError(f"{path}: a compact network has exactly one PixelShuffle")
    _check_nearest(layers, path)
    return state


def trailing_resize(layers: list[NcnnLayer]) -> float | None:
    """Scale of a final ``Interp`` applied to the network output (UP2X/UP3X files), else None.

    animevideov3's UP2X and UP3X graphs are the UP4X network followed by a bicubic resize by
    0.5 / 0.75; their weights are byte-identical to UP4X.
    """
    last = layers[-1]
    if last.type != "Interp" or layers[-2].type != "BinaryOp":
        return None
    return float(last.scalar(1, 1.0))


def ncnn_to_state_dict(param_path: str | Path, bin_path: str | Path) -> dict[str, torch.Tensor]:
    """Convert a Real-ESRGAN ncnn model into a state dict in spandrel's key layout.

    Returns float32 CPU tensors; ``spandrel.ModelLoader().load_from_state_dict`` detects the
    architecture (ESRGAN for RRDBNet, Compact for SRVGGNetCompact) from the keys.
    """
    layers = read_ncnn(param_path, bin_path)
    types = {layer.type for layer in layers}
    if "PReLU" in types:
        return _compact_state_dict(layers, str(param_path))
    if "Concat" in types and "Eltwise" in types:
        return _rrdb_state_dict(layers, str(param_path))
    raise ModelError(f"{param_path}: not a Real-ESRGAN RRDBNet or SRVGGNetCompact graph")
