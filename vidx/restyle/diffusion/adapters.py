"""LoRAs and IP-Adapters on a loaded pipeline, through diffusers' own loaders (peft backend).

A LoRA file is read with safetensors (never unpickled) and handed to ``load_lora_weights`` as a
state dict under an adapter name made from its SHA-256, so a pipeline shared by several
restylers (preview rows) holds each file once and each restyler sets its own weights
(``set_adapters``) before it runs. An IP-Adapter is a ``.safetensors`` file with diffusers'
``image_proj.*`` / ``ip_adapter.*`` keys and a CLIP vision encoder in ``image_encoder/`` beside
it (the layout of h94/IP-Adapter's ``models/`` folder).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from vidx.errors import ModelError
from vidx.restyle.diffusion.loading import _quiet
from vidx.weights import load_state_dict


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _errors_only():
    """diffusers and transformers log only errors inside (the library never prints)."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was_d, was_t = dlog.get_verbosity(), tlog.get_verbosity()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    try:
        yield
    finally:
        dlog.set_verbosity(was_d)
        tlog.set_verbosity(was_t)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_loras(pipe, loras: tuple[tuple[str, float], ...]) -> list[dict]:
    """Load each ``(path, weight)`` LoRA into ``pipe`` (once per file); returns the records
    the sidecar keeps: ``[{"path", "weight", "sha256", "adapter"}]``."""
    have = {name for names in pipe.get_list_adapters().values() for name in names}
    records = []
    for path, weight in loras:
        digest = file_sha256(path)
        name = f"lora_{digest[:16]}"
        if name not in have:
            state = load_state_dict(Path(path), allow_pickle=False, what="lora")
            try:
                with _quiet(), _errors_only():  # "no LoRA keys for the text encoder" is normal
                    pipe.load_lora_weights(state, adapter_name=name)
            except Exception as exc:  # diffusers/peft raise ValueError, KeyError, RuntimeError
                raise ModelError(
                    f"lora {path} cannot be loaded into this model: {_first_line(exc)}"
                ) from None
            have.add(name)
            pipe._vidx_loras = None  # a new adapter is active at load: apply_loras must set all
        records.append({"path": str(path), "weight": weight, "sha256": digest, "adapter": name})
    return records


def apply_loras(pipe, records: list[dict]) -> None:
    """Make ``records``' adapters and weights the active ones (none: LoRAs off); a file
    given twice adds its weights. Skipped when ``pipe`` already runs this set."""
    weights: dict[str, float] = {}
    for r in records:
        weights[r["adapter"]] = weights.get(r["adapter"], 0.0) + float(r["weight"])
    state = tuple(sorted(weights.items()))
    if getattr(pipe, "_vidx_loras", ()) == state:
        return
    if state:
        pipe.enable_lora()
        pipe.set_adapters(list(weights), list(weights.values()))
    elif pipe.get_list_adapters():
        pipe.disable_lora()
    pipe._vidx_loras = state


def load_ip_adapter(pipe, path: str | Path) -> None:
    """Load the IP-Adapter file ``path`` (and ``image_encoder/`` beside it) into ``pipe``;
    a second call on the same pipeline does nothing."""
    if getattr(pipe, "_vidx_ip_adapter", None) == str(path):
        return
    if getattr(pipe, "_vidx_ip_adapter", None) is not None:
        raise ModelError("one IP-Adapter per loaded model")
    if hasattr(pipe, "text_encoder_2"):
        raise ModelError(f"ip_adapter {path}: vidx takes IP-Adapters for SD1.x models only")
    p = Path(path)
    try:
        with _quiet(), _errors_only():
            pipe.load_ip_adapter(
                str(p.parent),
                subfolder="",
                weight_name=p.name,
                image_encoder_folder="image_encoder",
                local_files_only=True,
            )
    except Exception as exc:  # OSError, ValueError, KeyError (wrong layout), RuntimeError
        raise ModelError(f"ip_adapter {path} cannot be loaded: {_first_line(exc)}") from None
    pipe._vidx_ip_adapter = str(path)


@torch.no_grad()
def image_embeds(pipe, image: np.ndarray, cfg: bool) -> list[torch.Tensor]:
    """The IP-Adapter's image embedding of ``image`` ``(H, W, 3)`` uint8, as the UNet takes it
    in ``added_cond_kwargs["image_embeds"]``: one ``(2 if cfg else 1, 1, D)`` tensor (zeros
    for the unconditional half, as diffusers does)."""
    from PIL import Image

    return pipe.prepare_ip_adapter_image_embeds(
        Image.fromarray(image), None, pipe.unet.device, 1, cfg
    )
