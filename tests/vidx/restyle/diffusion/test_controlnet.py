"""ControlNet structure guidance with a tiny random ControlNet built here: control images, the
residuals in the UNet calls (guidance batches, guess mode, start/end), SDXL, the CLI and plan()."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import make_clip
from tests.vidx.restyle.diffusion.conftest import ROOT, run_clip, tiny_options
from vidx.cli import app
from vidx.errors import ModelError, OptionError
from vidx.options import JobOptions
from vidx.restyle.diffusion.control import (
    ControlImager,
    ControlNetGuide,
    canny_image,
    load_controlnet,
    soft_edge_image,
)


def _controlnet_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_tiny_controlnet", ROOT / "scripts" / "make_tiny_controlnet.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_controlnet


@pytest.fixture(scope="module")
def tiny_controlnet_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return _controlnet_builder()(tiny_model_dir, tmp_path_factory.mktemp("tiny-cn") / "cn")


options = partial(tiny_options, steps=6, guidance=2.0)


run = run_clip


def test_canny_and_soft_edges_have_the_frame_shape_and_range(clip):
    frame = clip[0][0]
    edges, soft = canny_image(frame), soft_edge_image(frame)
    for img in (edges, soft):
        assert img.shape == frame.shape and img.dtype == np.uint8
        assert np.array_equal(img[:, :, 0], img[:, :, 2])  # grey, three channels
    assert set(np.unique(edges)) <= {0, 255} and 0.01 < (edges > 0).mean() < 0.5
    assert soft.max() > 200 and np.median(soft) < soft.max()
    flat = np.full((32, 48, 3), 128, np.uint8)
    assert canny_image(flat).max() == 0 and soft_edge_image(flat).max() == 0
    step = flat.copy()
    step[:, 24:] = 255  # a vertical edge in the middle and nowhere else
    cols = np.flatnonzero(soft_edge_image(step)[16, :, 0] > 128)
    assert cols.min() >= 21 and cols.max() <= 26
    with pytest.raises(ModelError, match="depth-model"):
        ControlImager("depth")


def test_depth_control_from_a_local_depth_model(tmp_path, clip):
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    from vidx.restyle.diffusion.control import DepthEstimator

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        reassemble_factors=[4, 2, 1, 0.5],
        head_in_index=-1,
        is_hybrid=False,
    )
    folder = tmp_path / "dpt"
    DPTForDepthEstimation(config).save_pretrained(folder, safe_serialization=True)
    DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    imager = ControlImager("depth", DepthEstimator(str(folder), torch.device("cpu")))
    frame = clip[0][0]
    first, second = imager(frame), imager(frame)
    assert first.shape == frame.shape and first.dtype == np.uint8
    assert first.min() == 0 and first.max() == 255  # the frame's own depth range
    assert np.array_equal(first, second)  # a still scene keeps a still depth map
    with pytest.raises(ModelError, match="config.json"):
        DepthEstimator(str(tmp_path), torch.device("cpu"))


def test_controlnet_steers_and_strength_zero_is_no_controlnet(
    tiny_pipe, tiny_model_dir, tiny_controlnet_dir, clip
):
    frames, ctxs = clip[0][:3], clip[1][:3]
    plain = options(tiny_model_dir)
    _, base = run(tiny_pipe, plain, frames, ctxs)
    cn = options(tiny_model_dir, controlnet=str(tiny_controlnet_dir))
    r, steered = run(tiny_pipe, cn, frames, ctxs)
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(base, steered, strict=True)]
    assert min(diffs) > 1.0, diffs  # every frame, the reused ones too
    info = r.describe()["control"]
    assert info["control"] == "canny" and len(info["sha256"]) == 64
    assert info["controlnet_calls"] == r.describe()["unet_calls"]  # one per UNet call
    _, zero = run(
        tiny_pipe,
        options(tiny_model_dir, controlnet=str(tiny_controlnet_dir), control_strength=0.0),
        frames,
        ctxs,
    )
    assert all(np.array_equal(a, b) for a, b in zip(base, zero, strict=True))
    _, edges = run(
        tiny_pipe,
        options(tiny_model_dir, controlnet=str(tiny_controlnet_dir), control="edges"),
        frames[:1],
        ctxs[:1],
    )
    assert np.abs(edges[0].astype(int) - steered[0]).mean() > 0.1  # another control image


def test_residuals_follow_guidance_batches_guess_mode_and_the_step_window(
    tiny_pipe, tiny_controlnet_dir, clip
):
    net, _ = load_controlnet(str(tiny_controlnet_dir), tiny_pipe)
    guide = ControlNetGuide(net, ControlImager("canny"), scale=1.0, start=0.25, end=0.75)
    guide.set_frame(clip[0][0])
    assert guide.image is not None and guide.image.shape == (1, 3, 64, 64)
    assert 0.0 <= float(guide.image.min()) and float(guide.image.max()) == 1.0
    x = torch.randn(2, 4, 32, 32)  # a guidance batch: unconditional half first
    embeds = torch.randn(2, 77, 32)
    t = torch.tensor(500)
    keeps = []
    for i in range(4):
        guide.at_step(i, 4)
        keeps.append(guide.keep)
    assert keeps == [0.0, 1.0, 1.0, 0.0]  # steps inside [0.25, 0.75] of the run only
    guide.at_step(0, 4)
    assert guide.residuals(x, t, embeds, None, None, cfg=True) == {}
    guide.at_step(1, 4)
    full = guide.residuals(x, t, embeds, None, None, cfg=True)
    assert full["mid_block_additional_residual"].shape[0] == 2
    assert all(d.shape[0] == 2 for d in full["down_block_additional_residuals"])
    guide.guess = True
    guess = guide.residuals(x, t, embeds, None, None, cfg=True)
    mid = guess["mid_block_additional_residual"]
    assert mid.shape == full["mid_block_additional_residual"].shape
    assert float(mid[0].abs().max()) == 0.0 and float(mid[1].abs().max()) > 0.0


def test_sdxl_controlnet_restyles_and_a_mismatched_one_is_refused(
    tiny_xl_dir, tiny_pipe, tiny_controlnet_dir, tmp_path, clip
):
    from vidx.restyle.diffusion import load_pipeline

    xl_net = _controlnet_builder()(tiny_xl_dir, tmp_path / "xl-cn")
    xl = load_pipeline(str(tiny_xl_dir), "cpu", "fp32")
    opts = options(tiny_xl_dir, controlnet=str(xl_net), steps=4, scheduler="euler")
    _, base = run(xl, options(tiny_xl_dir, steps=4, scheduler="euler"), clip[0][:2], clip[1][:2])
    _, steered = run(xl, opts, clip[0][:2], clip[1][:2])
    assert steered[1].shape == (64, 64, 3)
    assert np.abs(steered[0].astype(int) - base[0]).mean() > 0.5
    with pytest.raises(ModelError, match="another base model"):
        load_controlnet(str(tiny_controlnet_dir), xl)


def test_control_options_are_declared_once_and_checked(tiny_controlnet_dir):
    spec = JobOptions().with_values(
        prompt="p", model="m", controlnet=str(tiny_controlnet_dir), control_strength=0.5
    )
    built = spec.restyle.resolved().diffusion_control
    assert built.controlnet == str(tiny_controlnet_dir) and built.control_strength == 0.5
    assert (
        JobOptions().with_values(prompt="p", model="m").restyle.diffusion_control.controlnet is None
    )
    for bad, param in (
        ({"control": "hed"}, "control"),
        ({"control_strength": -1.0}, "control_strength"),
        ({"control_start": 0.6, "control_end": 0.5}, "control_end"),
        ({"control": "depth"}, "control"),
    ):
        with pytest.raises(OptionError) as caught:
            JobOptions().with_values(prompt="p", model="m", controlnet="cn", **bad)
        assert caught.value.param == param
    with pytest.raises(OptionError, match="needs a prompt"):
        JobOptions().with_values(controlnet="cn")


runner = CliRunner()


def restyle(src: Path, out: Path, *extra: str):  # noqa: ANN201
    return runner.invoke(app, ["restyle", str(src), "-o", str(out), *extra])


def test_cli_restyles_with_a_controlnet_and_records_it(
    tiny_model_dir, tiny_controlnet_dir, tmp_path
):
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(64, 64))
    out = tmp_path / "out.mp4"
    args = ["--prompt", "ink", "--model", str(tiny_model_dir), "--steps", "3", "--work-size", "64"]
    result = restyle(
        src,
        out,
        *args,
        "--controlnet",
        str(tiny_controlnet_dir),
        "--control",
        "edges",
        "--control-strength",
        "0.7",
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(str(out) + ".json").read_text())
    control = meta["restyle"]["control"]
    assert control["control"] == "edges" and control["control_strength"] == 0.7
    weights = tiny_controlnet_dir / "diffusion_pytorch_model.safetensors"
    import hashlib

    assert control["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta["params"]["restyle"]["diffusion_control"]["controlnet"] == str(tiny_controlnet_dir)


@pytest.mark.parametrize("kind", ["missing", "pickled", "not-cached"])
def test_plan_refuses_a_bad_controlnet_before_writing(tiny_model_dir, tmp_path, kind):
    src = make_clip(tmp_path / "in.mp4", frames=2, size=(64, 64))
    cn = {"missing": str(tmp_path / "nope"), "not-cached": "someone/not-cached-cn"}.get(kind)
    if kind == "pickled":
        folder = tmp_path / "pickled-cn"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
        cn = str(folder)
    out = tmp_path / "out.mp4"
    result = restyle(
        src, out, "--prompt", "x", "--model", str(tiny_model_dir), "--controlnet", str(cn)
    )
    assert result.exit_code == 2, result.output
    assert "--controlnet" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not Path(str(out) + ".json").exists()
    needle = {"missing": "no such folder", "pickled": "--allow-pickle", "not-cached": "cache"}
    assert needle[kind] in result.stderr


def test_builder_gives_a_controlnet_that_is_not_zero(tiny_controlnet_dir):
    from safetensors.torch import load_file

    state = load_file(str(tiny_controlnet_dir / "diffusion_pytorch_model.safetensors"))
    assert float(state["controlnet_mid_block.weight"].abs().max()) > 0


def test_a_job_file_resolves_a_controlnet_folder_and_keeps_a_hub_id(tmp_path):
    from vidx.jobs.jobfile import load_job

    (tmp_path / "cn").mkdir()
    job = tmp_path / "job.toml"
    job.write_text(
        '[shared]\nprompt = "ink"\nmodel = "org/model"\n'
        '[variants.local]\ncontrolnet = "cn"\n'
        '[variants.hub]\ncontrolnet = "lllyasviel/sd-controlnet-canny"\n'
    )
    loaded = load_job(job)
    assert loaded.settings("local")["controlnet"] == str((tmp_path / "cn").absolute())
    assert loaded.settings("hub")["controlnet"] == "lllyasviel/sd-controlnet-canny"
