"""Choosing the torch device and dtype from the user's --device/--dtype words."""

from __future__ import annotations

import torch

from vidx.errors import OptionError

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "fp16", "bf16")


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; ``cuda`` without a GPU is an OptionError."""
    if name not in DEVICES:
        raise OptionError(f"must be one of {', '.join(DEVICES)}, got {name!r}", param="device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("cuda was asked for, but no CUDA GPU is available", param="device")
    return torch.device(name)


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on CUDA and fp32 on CPU; half precision on CPU is refused."""
    if name not in DTYPES:
        raise OptionError(f"must be one of {', '.join(DTYPES)}, got {name!r}", param="dtype")
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]
    if device.type == "cpu" and dtype == torch.float16:
        raise OptionError("fp16 needs a GPU; use fp32 or bf16 on the CPU", param="dtype")
    return dtype
