"""RAFT flow (torchvision ``raft_large`` / ``raft_small``) from a user-supplied weights file.

Nothing is downloaded: the weights are a state dict the user names, read with safetensors or
``torch.load(weights_only=True)``. Loaded models are cached per (path, device).
"""

from __future__ import annotations

import functools
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
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad weights file
        raise FlowModelError(f"raft_weights {path!r} cannot be read: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise FlowModelError(f"raft_weights {path!r} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


@functools.lru_cache(maxsize=2)
def load_raft(path: str, device: str) -> torch.nn.Module:
    """Build ``raft_large`` or ``raft_small`` (whichever the keys fit) with the weights at ``path``.

    Raises:
        FlowModelError: the file is missing, unreadable, or fits neither architecture.
    """
    from torchvision.models.optical_flow import (  # type: ignore[import-untyped]
        raft_large,
        raft_small,
    )

    state = _read_state_dict(path)
    errors = []
    # raft_large has ~169 state-dict entries, raft_small ~106: try the likelier one first
    builders = (raft_large, raft_small) if len(state) > 140 else (raft_small, raft_large)
    for builder in builders:
        model = builder(weights=None, progress=False)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            errors.append(f"{builder.__name__}: {str(exc).splitlines()[0]}")
            continue
        return model.eval().to(device)
    raise FlowModelError(
        f"raft_weights {path!r} fit neither raft_large nor raft_small ({'; '.join(errors)})"
    )


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@torch.inference_mode()
def raft_flow(
    src: np.ndarray,
    dst: np.ndarray,
    path: str,
    *,
    device: str | None = None,
    updates: int = 12,
) -> np.ndarray:
    """RAFT flow from ``src`` to ``dst``: ``(H, W, 3)`` uint8 RGB -> ``(H, W, 2)`` float32.

    ``updates`` is the number of recurrent refinement steps (torchvision's default, 12).
    """
    dev = device or _default_device()
    model = load_raft(path, dev)
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
