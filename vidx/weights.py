"""One loader for every weights file vidx reads, with one pickle rule.

``.safetensors`` files are read with safetensors (no code can run). Pickled formats (``.pth``,
``.pt``, ``.ckpt``, ``.bin``) are refused unless the user passed ``--allow-pickle``, and even then
go through ``torch.load(weights_only=True)``, which refuses any pickle that carries code. Every
failure is a one-line :class:`~vidx.errors.ModelError` naming the file.

Convention: the result is a flat ``{name: tensor}`` dict on the CPU; training wrappers
(``{"params_ema": ...}``, ``{"params": ...}``, ``{"state_dict": ...}``, ``{"model": ...}``) are
unwrapped and ``module.`` prefixes (``DataParallel``) stripped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vidx.errors import ModelError
from vidx.values.paths import file_problem

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")  # first one present wins
# lines of torch.load's weights-only refusal that are advice, not the reason
TORCH_ADVICE = ("Weights only load failed", "(1)", "(2)", "Please file an issue", "Check the doc")


def load_state_dict(path: Path, *, allow_pickle: bool, what: str) -> dict[str, torch.Tensor]:
    """Read the state dict in ``path`` (``what`` names it in messages, e.g. "upscaler model").

    Raises:
        ModelError: the file is missing or not a regular file, has an unknown suffix, is a
            pickle and ``allow_pickle`` is False, cannot be read, or holds no tensors.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise ModelError(f"{what} {path} {problem}")
    suffix = path.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        state: Any = _read_safetensors(path, what)
    elif suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ModelError(
                f"{what} {path} is a pickled file; pass --allow-pickle to load it "
                "(with weights_only=True), or convert it to .safetensors"
            )
        state = _read_pickle(path, what)
    else:
        raise ModelError(
            f"{what} {path} has an unknown suffix {suffix!r} "
            f"(expected {', '.join(SAFE_SUFFIXES + PICKLE_SUFFIXES)})"
        )
    return clean_state_dict(state, f"{what} {path}")


def clean_state_dict(state: Any, name: str) -> dict[str, torch.Tensor]:
    """Unwrap a training checkpoint to its ``{key: tensor}`` dict and strip ``module.``.

    Entries that are not tensors (an ``epoch`` counter, optimizer settings) are dropped.

    Raises:
        ModelError: ``state`` holds no tensor at all (``name`` starts the message).
    """
    if isinstance(state, Mapping):
        for key in WRAPPER_KEYS:
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping):
        raise ModelError(f"{name} does not hold a state dict (found {type(state).__name__})")
    tensors = {
        str(k).removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)
    }
    if not tensors:
        raise ModelError(f"{name} holds no weights (no tensors in it)")
    return tensors


def load_raft_weights(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """The state dict of a torchvision ``raft_large``/``raft_small`` file (``--raft-weights``).

    Read by :func:`load_state_dict`; give the result (or :func:`load_raft_model`'s module) to
    ``temporal.flow(..., raft_weights=...)``.
    """
    return load_state_dict(path, allow_pickle=allow_pickle, what="RAFT weights")


def load_raft_model(path: Path, allow_pickle: bool) -> torch.nn.Module:
    """The RAFT network for ``--raft-weights PATH``, built on the CPU and checked up front.

    Pass it as ``temporal.flow(..., method="raft", raft_weights=model)``: the keys are matched
    against ``raft_large`` and ``raft_small`` here, before any frame is decoded, and the module
    is moved to the flow device on first use.

    Raises:
        ModelError: the file cannot be read (see :func:`load_state_dict`) or fits neither
            architecture.
    """
    from temporal.errors import FlowModelError
    from temporal.raft import build_raft

    state = load_raft_weights(path, allow_pickle)
    try:
        return build_raft(state, name=f"RAFT weights {path}")
    except FlowModelError as exc:
        raise ModelError(str(exc)) from None


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of ``exc``'s message, at most ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_safetensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # any reader failure is a bad weights file
        raise ModelError(
            f"{what} {path} is not a readable safetensors file ({first_line(exc)})"
        ) from None


def _read_pickle(path: Path, what: str) -> Any:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(
            f"{what} {path} cannot be loaded safely with weights_only=True ({_pickle_reason(exc)})"
        ) from None


def _pickle_reason(exc: BaseException) -> str:
    """torch's weights-only refusal is a page of advice; keep only the unpickler's own reason."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    for raw in text.splitlines():
        line = raw.strip()
        if "WeightsUnpickler error:" in line:
            line = line.split("WeightsUnpickler error:", 1)[1].strip()
        if not line or line.startswith(TORCH_ADVICE):
            continue
        return line.split(". ")[0].rstrip(".")[:200]
    return first_line(exc)
