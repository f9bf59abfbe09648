"""RAFT flow (torchvision ``raft_large`` / ``raft_small``) from user-supplied weights.

Nothing is downloaded. The weights come as a file path (read here with safetensors or
``torch.load(weights_only=True)``), as a state dict the caller already loaded under its own
rules, or as a RAFT module built with :func:`build_raft`. Built models are cached (see
:func:`raft_model`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from temporal.errors import FlowModelError


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise FlowModelError(f"raft_weights file not found: {path!r}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader failure is a bad weights file
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise FlowModelError(f"raft_weights {path!r} cannot be read: {reason}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise FlowModelError(f"raft_weights {path!r} does not hold a state dict")
    return state


def build_raft(state: Mapping[str, torch.Tensor], name: str = "raft_weights") -> torch.nn.Module:
    """``raft_large`` or ``raft_small`` (whichever the keys fit) with ``state``, on the CPU, eval.

    ``name`` names the weights in the error message.

    Raises:
        FlowModelError: ``state`` fits neither architecture.
    """
    from torchvision.models.optical_flow import (  # type: ignore[import-untyped]
        raft_large,
        raft_small,
    )

    state = {str(k).removeprefix("module."): v for k, v in state.items()}
    errors = []
    # raft_large has ~169 state-dict entries, raft_small ~106: try the likelier one first
    builders = (raft_large, raft_small) if len(state) > 140 else (raft_small, raft_large)
    for builder in builders:
        model = builder(weights=None, progress=False)
        expected = set(model.state_dict())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            some = sorted(unexpected or missing)[0]
            errors.append(
                f"{builder.__name__}: {len(missing)} keys missing, {len(unexpected)} unexpected "
                f"(e.g. {some!r})"
            )
            continue
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # same keys, wrong shapes
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            errors.append(f"{builder.__name__}: {lines[-1] if lines else exc}")
            continue
        return model.eval()
    raise FlowModelError(f"{name} fit neither raft_large nor raft_small ({'; '.join(errors)})")


@functools.lru_cache(maxsize=2)
def load_raft(path: str, device: str) -> torch.nn.Module:
    """Build RAFT (see :func:`build_raft`) with the weights in the file at ``path``, on ``device``.

    Raises:
        FlowModelError: the file is missing, unreadable, or fits neither architecture.
    """
    return build_raft(_read_state_dict(path), name=f"raft_weights {path!r}").to(device)


RaftWeights = str | os.PathLike | Mapping[str, torch.Tensor] | torch.nn.Module
"""What ``raft_weights`` may be: a file path, an already-loaded state dict, or a built RAFT."""

_BUILT: OrderedDict[tuple[int, str], tuple[object, torch.nn.Module]] = OrderedDict()
_BUILT_LOCK = threading.Lock()


def raft_model(weights: RaftWeights, device: str) -> torch.nn.Module:
    """The RAFT network for ``weights`` on ``device``, built at most once per weights object.

    A path goes through :func:`load_raft` (cached per path and device). A state dict is built
    with :func:`build_raft` and cached by its identity for the two most recent dicts (the cache
    keeps the dict alive, so the identity stays valid; do not change a dict after first use).
    A module is used as it is, switched to eval mode and moved to ``device`` in place.
    """
    if isinstance(weights, torch.nn.Module):
        return weights.eval().to(device)
    if isinstance(weights, (str, os.PathLike)):
        return load_raft(os.fspath(weights), device)
    if not isinstance(weights, Mapping):
        raise FlowModelError(
            "raft_weights must be a file path, a state dict or a RAFT module, "
            f"got {type(weights).__name__}"
        )
    key = (id(weights), device)
    with _BUILT_LOCK:
        hit = _BUILT.get(key)
        if hit is not None and hit[0] is weights:
            _BUILT.move_to_end(key)
            return hit[1]
        model = build_raft(weights, name="raft_weights state dict").to(device)
        _BUILT[key] = (weights, model)
        while len(_BUILT) > 2:
            _BUILT.popitem(last=False)
        return model


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@torch.inference_mode()
def raft_flow(
    src: np.ndarray,
    dst: np.ndarray,
    weights: RaftWeights,
    *,
    device: str | None = None,
    updates: int = 12,
) -> np.ndarray:
    """RAFT flow from ``src`` to ``dst``: ``(H, W, 3)`` uint8 RGB -> ``(H, W, 2)`` float32.

    ``weights`` is anything :func:`raft_model` takes (path, state dict or module).
    ``updates`` is the number of recurrent refinement steps (torchvision's default, 12).
    """
    dev = device or _default_device()
    model = raft_model(weights, dev)
    h, w = src.shape[:2]
    # RAFT wants sizes divisible by 8 and at least 128 (its correlation pyramid): pad, crop back
    pad_h, pad_w = max(128, h + (-h) % 8) - h, max(128, w + (-w) % 8) - w

    def prep(im: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float()
        t = t.to(dev) / 127.5 - 1.0
        return F.pad(t, (0, pad_w, 0, pad_h), mode="replicate")

    preds = model(prep(src), prep(dst), num_flow_updates=updates)
    out = preds[-1][0, :, :h, :w].permute(1, 2, 0)
    return out.float().cpu().numpy()
