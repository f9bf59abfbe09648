"""Tiny random Stable Diffusion models built once per session (``tiny_model_dir`` is
tests/conftest.py's), and a panning real-photo clip."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"

import temporal  # noqa: E402
from vidx.frame import FrameContext  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]


def _builder(name: str = "build_tiny_model"):
    spec = importlib.util.spec_from_file_location(
        "make_tiny_model", ROOT / "scripts" / "make_tiny_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def restyle_options(**flat):
    """``RestyleOptions`` from flat option names (its nested groups' too), as a job file or
    ``vidx.render`` gives them."""
    from vidx.options import RestyleOptions

    return RestyleOptions().with_values(**flat)


def tiny_options(model, **kw):
    """``RestyleOptions`` for the tiny model (a test passes its loaded pipeline, on the CPU); a
    test module fixes what it varies with ``functools.partial`` and a test overrides the
    rest, by flat option names."""
    base = dict(
        model=str(model),
        prompt="an oil painting",
        strength=0.5,
        reuse_strength=0.25,
        steps=8,
        guidance=1.0,
        work_size=64,
        seed=3,
    )
    return restyle_options(**{**base, **kw})


def run_clip(pipe, opts, frames, ctxs):
    """A restyler over ``frames`` with their contexts: ``(restyler, outputs)``."""
    from vidx.restyle.diffusion import DiffusionRestyler

    r = DiffusionRestyler(opts, pipe=pipe)
    return r, [r(f, c) for f, c in zip(frames, ctxs, strict=True)]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core box, two spinning threads run ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lcm_dir(tmp_path_factory) -> Path:
    """The tiny model with a guidance embedding (``time_cond_proj_dim``), as LCM UNets have."""
    return _builder()(tmp_path_factory.mktemp("tiny-lcm") / "model", time_cond_proj_dim=32)


@pytest.fixture(scope="session")
def tiny_xl_dir(tmp_path_factory) -> Path:
    return _builder("build_tiny_xl_model")(tmp_path_factory.mktemp("tiny-sdxl") / "model")


@pytest.fixture(scope="session")
def tiny_pipe(tiny_model_dir):
    from vidx.restyle.diffusion import load_pipeline

    torch.manual_seed(0)
    return load_pipeline(str(tiny_model_dir), "cpu", "fp32")


def pan_clip(n: int = 6, size: int = 64, step: int = 4) -> list[np.ndarray]:
    """``n`` frames of skimage's astronaut photo panning left by ``step`` pixels per frame."""
    from skimage import data

    photo = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        x0 = 40 + i * step
        frames.append(np.ascontiguousarray(photo[60 : 60 + size, x0 : x0 + size]))
    return frames


def contexts(frames: list[np.ndarray], interval: int = 0) -> list[FrameContext]:
    """Frame contexts the way the pipeline makes them: flow current -> previous and its mask."""
    out = []
    for i, f in enumerate(frames):
        if i == 0 or (interval and i % interval == 0):
            out.append(FrameContext(i, f, keyframe=True))
            continue
        back = temporal.flow(f, frames[i - 1])
        fwd = temporal.flow(frames[i - 1], f)
        mask = temporal.consistency_mask(back, fwd)
        out.append(FrameContext(i, f, keyframe=False, flow=back, mask=mask))
    return out


@pytest.fixture(scope="session")
def clip():
    frames = pan_clip()
    return frames, contexts(frames)


@pytest.fixture(scope="session")
def clip_tools():
    """``(pan_clip, contexts)`` for tests that make their own clips."""
    return pan_clip, contexts


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """A random LoRA and a random IP-Adapter (image encoder beside it) for the tiny model."""
    spec = importlib.util.spec_from_file_location(
        "make_tiny_adapters", ROOT / "scripts" / "make_tiny_adapters.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path_factory.mktemp("tiny-adapters")
    lora = module.build_tiny_lora(tiny_model_dir, folder / "lora.safetensors", seed=1)
    ip = module.build_tiny_ip_adapter(tiny_model_dir, folder / "ip", seed=2)
    return {"lora": lora, "ip_adapter": ip}
