"""Loading a Stable Diffusion img2img pipeline from a folder, a single file or a hub id.

Nothing is downloaded unless the user names a hub id and HF_HUB_OFFLINE is not set; every
failure the user can cause is a ModelError naming the value.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import torch

from vidx.device import pick_device, pick_dtype
from vidx.errors import ModelError, OptionError
from vidx.restyle.diffusion.builtin import builtin_folder

SD_CLASSES = {
    "StableDiffusionPipeline",
    "StableDiffusionImg2ImgPipeline",
    "StableDiffusionInpaintPipeline",
    "StableDiffusionControlNetPipeline",
    "LatentConsistencyModelPipeline",
    "LatentConsistencyModelImg2ImgPipeline",
}
SDXL_CLASSES = {
    "StableDiffusionXLPipeline",
    "StableDiffusionXLImg2ImgPipeline",
    "StableDiffusionXLInpaintPipeline",
}
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HOW_TO_GET = (
    "download it on a machine with network (`huggingface-cli download {id}` or "
    "`hf download {id}`) and copy the Hugging Face cache, or pass a local diffusers folder "
    "or a .safetensors file"
)


def _dtype_kwargs(dtype: torch.dtype) -> dict:
    """diffusers 0.36+ names the argument ``dtype`` (``torch_dtype`` warns); older ones not."""
    from diffusers.utils import deprecation_utils

    new = hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
    return {"dtype": dtype} if new else {"torch_dtype": dtype}


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _img2img_class(class_name: str, where: str):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

    if class_name in SD_CLASSES:
        return StableDiffusionImg2ImgPipeline
    if class_name in SDXL_CLASSES:
        return StableDiffusionXLImg2ImgPipeline
    raise ModelError(
        f"--model {where!r} is a {class_name or 'unknown'} model; vidx restyles with Stable "
        "Diffusion 1.x/2.x or SDXL models"
    )


def _class_from_index(index_file: Path, where: str):
    try:
        class_name = json.loads(index_file.read_text(encoding="utf-8")).get("_class_name", "")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"--model {where!r}: cannot read {index_file.name}: {exc}") from None
    return _img2img_class(str(class_name), where)


def _is_sdxl_checkpoint(path: Path) -> bool:
    """True when a single-file checkpoint holds an SDXL model (two text encoders)."""
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return any(k.startswith("conditioner.embedders.1.") for k in f.keys())


def _load_folder(path: Path, dtype: torch.dtype, allow_pickle: bool):
    index = path / "model_index.json"
    if not index.is_file():
        raise ModelError(
            f"--model {str(path)!r} is a folder without model_index.json; expected a diffusers "
            "model folder (save_pretrained layout)"
        )
    cls = _class_from_index(index, str(path))
    return _from_pretrained(cls, str(path), dtype, allow_pickle, local_only=True)


def _from_pretrained(cls, where: str, dtype: torch.dtype, allow_pickle: bool, local_only: bool):
    kwargs: dict = dict(_dtype_kwargs(dtype), local_files_only=local_only)
    kwargs["use_safetensors"] = None if allow_pickle else True
    if cls.__name__ == "StableDiffusionImg2ImgPipeline":
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        return cls.from_pretrained(where, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        hint = "" if allow_pickle else " (pickled .bin weights need --allow-pickle)"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"--model {where!r} cannot be loaded{hint}: {first}") from None


def _load_file(path: Path, dtype: torch.dtype, allow_pickle: bool):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise ModelError(
            f"--model {str(path)!r} is a pickle checkpoint ({suffix}); convert it to "
            ".safetensors, or pass --allow-pickle to load it with torch.load(weights_only=True)"
        )
    if suffix != ".safetensors" and suffix not in PICKLE_SUFFIXES:
        raise ModelError(
            f"--model {str(path)!r} is not a model file; use a diffusers folder, a .safetensors "
            "checkpoint or a hub id"
        )
    try:
        sdxl = _is_sdxl_checkpoint(path)
    except Exception as exc:  # safetensors raises its own error types for a corrupt header
        raise ModelError(
            f"--model {str(path)!r} is not a readable .safetensors file: {exc}"
        ) from None
    cls = StableDiffusionXLImg2ImgPipeline if sdxl else StableDiffusionImg2ImgPipeline
    kwargs: dict = dict(_dtype_kwargs(dtype), local_files_only=_offline())
    if not sdxl:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        return cls.from_single_file(str(path), **kwargs)
    except Exception as exc:  # diffusers raises many types here (config fetch, key mismatch)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"--model {str(path)!r} cannot be loaded as a single-file checkpoint: {first}. "
            "Single files need the base model's configs from the hub once (run online, or "
            "convert the file to a diffusers folder)"
        ) from None


def _load_hub(model_id: str, dtype: torch.dtype, allow_pickle: bool):
    from huggingface_hub import hf_hub_download

    offline = _offline()
    attempts = (True,) if offline else (True, False)
    last: Exception | None = None
    for local_only in attempts:
        try:
            index = hf_hub_download(model_id, "model_index.json", local_files_only=local_only)
        except Exception as exc:  # LocalEntryNotFoundError, network and repo errors
            last = exc
            continue
        cls = _class_from_index(Path(index), model_id)
        return _from_pretrained(cls, model_id, dtype, allow_pickle, local_only=local_only)
    how = _HOW_TO_GET.format(id=model_id)
    if offline:
        raise ModelError(
            f"--model {model_id!r} is not a local path and is not in the Hugging Face cache, and "
            f"HF_HUB_OFFLINE is set; {how}"
        )
    raise ModelError(f"--model {model_id!r} cannot be fetched from the hub ({last}); {how}")


def load_pipeline(
    model: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    allow_pickle: bool = False,
    vae: str = "",
):
    """Load an img2img pipeline (``StableDiffusionImg2ImgPipeline`` or the SDXL one).

    ``model`` is a diffusers folder (with model_index.json), a single ``.safetensors``
    checkpoint (``.ckpt``/``.pt``/``.bin`` only with ``allow_pickle``, loaded with
    ``torch.load(weights_only=True)``) or a hub id (cache first; online only when
    HF_HUB_OFFLINE is not set). ``device``/``dtype`` take the CLI words (``auto``, ``cuda``,
    ``fp16``...) or torch objects. No safety checker, no remote code. On CUDA the UNet goes
    ``channels_last``; attention uses PyTorch SDPA (the diffusers default). ``vae`` names an
    autoencoder folder to use instead of the model's (``load_vae``).
    """
    dev = device if isinstance(device, torch.device) else pick_device(str(device))
    dt = dtype if isinstance(dtype, torch.dtype) else pick_dtype(str(dtype), dev)
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise ModelError(
            "--model is empty; name a diffusers folder, a .safetensors file or a hub id"
        )
    with _quiet():
        pipe = _load(str(model).strip(), dt, allow_pickle)
    pipe.set_progress_bar_config(disable=True)
    if vae:
        swap_vae(pipe, load_vae(str(vae), dt, allow_pickle))
    pipe = pipe.to(dev)
    if dev.type == "cuda":
        pipe.unet.to(memory_format=torch.channels_last)
    autoencoder = pipe.vae
    if dt == torch.float16 and getattr(autoencoder.config, "force_upcast", False):
        autoencoder.to(torch.float32)  # the SDXL VAE overflows in fp16
    return pipe


VAE_CLASSES = ("AutoencoderKL", "AutoencoderTiny")


def load_vae(path: str, dtype: torch.dtype, allow_pickle: bool = False):
    """An autoencoder from a diffusers folder (``config.json`` naming ``AutoencoderKL`` or the
    tiny ``AutoencoderTiny``); pickled ``.bin`` weights only with ``allow_pickle``."""
    import diffusers

    folder = Path(str(path)).expanduser()
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(
            f"--vae {str(path)!r} is not a diffusers autoencoder folder (no config.json)"
        )
    try:
        name = str(json.loads(config.read_text(encoding="utf-8")).get("_class_name", ""))
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"--vae {str(path)!r}: cannot read config.json: {exc}") from None
    if name not in VAE_CLASSES:
        raise ModelError(
            f"--vae {str(path)!r} is a {name or 'unknown'} model; expected "
            f"{' or '.join(VAE_CLASSES)}"
        )
    if not allow_pickle and not any(folder.glob("*.safetensors")):
        raise ModelError(
            f"--vae {str(path)!r} has no .safetensors weights; pickled weights need "
            "--allow-pickle (loaded with torch.load(weights_only=True))"
        )
    kwargs = dict(_dtype_kwargs(dtype), use_safetensors=None if allow_pickle else True)
    try:
        with _quiet():
            return getattr(diffusers, name).from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"--vae {str(path)!r} cannot be loaded: {first}") from None


def swap_vae(pipe, autoencoder) -> None:
    """Put ``autoencoder`` in ``pipe`` (its device and dtype) after checking it fits the UNet:
    the same latent channels and downscale factor as the model's own autoencoder."""
    unet_in = int(pipe.unet.config.in_channels)
    channels = int(autoencoder.config.latent_channels)
    factor = 2 ** (len(autoencoder.config.block_out_channels) - 1)
    if channels != unet_in or factor != int(pipe.vae_scale_factor):
        raise ModelError(
            f"--vae makes {channels}-channel latents at 1/{factor} size; the model's UNet wants "
            f"{unet_in} channels at 1/{pipe.vae_scale_factor}"
        )
    pipe.vae = autoencoder.to(pipe.unet.device, next(pipe.vae.parameters()).dtype)


def _load(text: str, dtype: torch.dtype, allow_pickle: bool):
    shipped = builtin_folder(text)  # a built-in name first, as --upscaler names are
    if shipped is not None:
        return _load_folder(shipped, dtype, allow_pickle)
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_folder(path, dtype, allow_pickle)
    if path.is_file():
        return _load_file(path, dtype, allow_pickle)
    if HUB_ID.match(text) and not text.startswith((".", "~")) and path.suffix == "":
        return _load_hub(text, dtype, allow_pickle)
    raise ModelError(
        f"--model {text!r} does not exist (not a file or folder) and is not a hub id (owner/name)"
    )


@contextmanager
def _quiet():
    """No diffusers/transformers loading bars: the library never prints."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was_d, was_t = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was_d:
            dlog.enable_progress_bar()
        if was_t:
            tlog.enable_progress_bar()


def set_scheduler(pipe, name: str) -> None:
    """Swap the pipeline's scheduler for ``name`` (euler, euler-a, ddim, dpm++, lcm, model)."""
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        LCMScheduler,
    )

    classes = {
        "euler": EulerDiscreteScheduler,
        "euler-a": EulerAncestralDiscreteScheduler,
        "ddim": DDIMScheduler,
        "dpm++": DPMSolverMultistepScheduler,
        "lcm": LCMScheduler,
    }
    if name == "model":
        return
    if name not in classes:
        raise OptionError(
            f"must be one of {', '.join(classes)}, model; got {name!r}", param="scheduler"
        )
    config = dict(pipe.scheduler.config)
    if name == "dpm++":
        config.update(algorithm_type="dpmsolver++", solver_order=2)
    pipe.scheduler = classes[name].from_config(config)
