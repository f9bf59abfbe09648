"""LoRAs, prompt schedules and IP-Adapters on the tiny random model (issue 14)."""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import make_clip, run_cli
from tests.vidx.restyle.diffusion.conftest import run_clip, tiny_options
from vidx.restyle.diffusion import DiffusionRestyler, load_pipeline
from vidx.restyle.diffusion.prompts import blend, slerp

options = partial(tiny_options, strength=0.6, reuse_strength=0.3, steps=6, guidance=2.0)


run = run_clip


@pytest.fixture
def fresh_pipe(tiny_model_dir):
    """A pipeline of its own: LoRAs and IP-Adapters change the model they are loaded into."""
    return load_pipeline(str(tiny_model_dir), "cpu", "fp32")


def test_lora_changes_the_output_and_weight_zero_is_no_lora(
    fresh_pipe, tiny_model_dir, tiny_adapters, clip
):
    frames, ctxs = clip
    frames, ctxs = frames[:4], ctxs[:4]
    lora = str(tiny_adapters["lora"])
    _, plain = run(fresh_pipe, options(tiny_model_dir), frames, ctxs)
    r, styled = run(fresh_pipe, options(tiny_model_dir, lora=(f"{lora}:1.0",)), frames, ctxs)
    _, zero = run(fresh_pipe, options(tiny_model_dir, lora=(f"{lora}:0.0",)), frames, ctxs)
    _, again = run(fresh_pipe, options(tiny_model_dir), frames, ctxs)  # LoRA off again
    assert all(np.array_equal(a, b) for a, b in zip(plain, zero, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(plain, again, strict=True))
    assert all(np.abs(a.astype(int) - b).mean() > 1.0 for a, b in zip(plain, styled, strict=True))
    record = r.describe()["lora"]
    assert record == [
        {
            "path": lora,
            "weight": 1.0,
            "sha256": hashlib.sha256(Path(lora).read_bytes()).hexdigest(),
        }
    ]


def test_lora_on_the_command_line_and_in_the_sidecar(tiny_model_dir, tiny_adapters, tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(64, 64))
    lora = tiny_adapters["lora"]
    common = ["--prompt", "x", "--model", tiny_model_dir, "--steps", "3", "--work-size", "64"]
    out = tmp_path / "out.mp4"
    result = run_cli("restyle", src, "-o", out, *common, "--lora", f"{lora}:0.7")
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["params"]["restyle"]["lora"] == [f"{lora}:0.7"]
    digest = hashlib.sha256(lora.read_bytes()).hexdigest()
    assert meta["restyle"]["lora"] == [{"path": str(lora), "weight": 0.7, "sha256": digest}]


@pytest.mark.parametrize("name", ["style.bin", "style.pt", "style.ckpt"])
def test_pickled_lora_is_refused_with_one_line(tiny_model_dir, tmp_path, name):
    src = make_clip(tmp_path / "in.mp4", frames=2, size=(64, 64))
    pickled = tmp_path / name
    torch.save({"w": torch.zeros(1)}, pickled)
    out = tmp_path / "out.mp4"
    result = run_cli(
        "restyle", src, "-o", out, "--prompt", "x", "--model", tiny_model_dir, "--lora", pickled
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pickled" in lines[0] and "--lora" in lines[0]
    assert not out.exists() and "Traceback" not in result.output


def test_lora_in_a_variants_job_file(tiny_model_dir, tiny_adapters, tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(64, 64))
    shutil.copy(tiny_adapters["lora"], tmp_path / "look.safetensors")
    job = tmp_path / "job.toml"
    shutil.copytree(tiny_model_dir, tmp_path / "model")  # a job names files inside its folder
    job.write_text(
        "[shared]\nprompt = 'x'\nmodel = 'model'\nsteps = 3\nwork_size = 64\n"
        "[variants.plain]\n"
        "[variants.styled]\nlora = ['look.safetensors:1.5']\n"
    )
    outdir = tmp_path / "out"
    result = run_cli("variants", src, "--job", job, "-o", outdir)
    assert result.exit_code == 0, result.output
    styled = json.loads((outdir / "styled.mp4.json").read_text())["restyle"]["lora"]
    plain = json.loads((outdir / "plain.mp4.json").read_text())["restyle"]["lora"]
    assert plain == [] and styled[0]["weight"] == 1.5
    assert styled[0]["path"] == str(tmp_path / "look.safetensors")


def test_slerp_and_blend_endpoints():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid, torch.tensor([[1.5 / 2**0.5, 1.5 / 2**0.5]]), atol=1e-5)
    assert torch.allclose(slerp(a, a, 0.3), a)


def test_prompt_schedule_keeps_frames_before_the_change(tiny_pipe, tiny_model_dir, clip_tools):
    pan_clip, contexts = clip_tools
    frames = pan_clip(n=9)
    ctxs = contexts(frames)
    _, single = run(tiny_pipe, options(tiny_model_dir, prompt="snowy street"), frames, ctxs)
    schedule = "0: snowy street; 5: summer street"
    for mode in ("linear", "slerp"):
        opts = options(
            tiny_model_dir,
            prompt=None,  # as the CLI gives it: the schedule's key 0 is the prompt
            prompt_schedule=schedule,
            prompt_transition=3,
            prompt_interpolation=mode,
        )
        r, scheduled = run(tiny_pipe, opts, frames, ctxs)
        assert all(np.array_equal(a, b) for a, b in zip(single[:5], scheduled[:5], strict=True))
        assert all(not np.array_equal(a, b) for a, b in zip(single[5:], scheduled[5:], strict=True))
        assert len(r.prompts.encoded) == 2  # each distinct prompt encoded once, for the work size
    first, second = r.prompts.encoded.values()
    mid = blend(first, second, 0.5)
    assert torch.allclose(mid.embeds, (first.embeds + second.embeds) / 2, atol=1e-6)
    assert blend(first, second, 0.0) is first and blend(first, second, 1.0) is second


def test_ip_adapter_follows_the_style_image(fresh_pipe, tiny_model_dir, tiny_adapters, clip):
    frames, ctxs = clip
    frames, ctxs = frames[:2], ctxs[:2]
    picture = frames[-1][::-1].copy()
    path = Path(tiny_adapters["ip_adapter"]).parent / "style.png"
    from PIL import Image

    Image.fromarray(picture).save(path)
    off = dict(cross_frame_attn=False)
    _, plain = run(fresh_pipe, options(tiny_model_dir, **off), frames, ctxs)
    ip = dict(ip_adapter=str(tiny_adapters["ip_adapter"]), style_image=str(path), **off)
    r, guided = run(fresh_pipe, options(tiny_model_dir, ip_adapter_scale=1.0, **ip), frames, ctxs)
    _, zero = run(fresh_pipe, options(tiny_model_dir, ip_adapter_scale=0.0, **ip), frames, ctxs)
    assert all(np.abs(a.astype(int) - b).mean() > 1.0 for a, b in zip(plain, guided, strict=True))
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(plain, zero, strict=True))
    assert (
        r.describe()["ip_adapter"]["sha256"]
        == hashlib.sha256(Path(tiny_adapters["ip_adapter"]).read_bytes()).hexdigest()
    )


def test_ip_adapter_end_to_end_with_temporal_steps(tiny_model_dir, tiny_adapters, tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(64, 64))
    style = tmp_path / "style.png"
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), (200, 40, 90), np.uint8)).save(style)
    out = tmp_path / "out.mp4"
    args = ["--prompt", "x", "--model", tiny_model_dir, "--steps", "3", "--work-size", "64"]
    ip = ["--style-image", style, "--ip-adapter", tiny_adapters["ip_adapter"]]
    result = run_cli("restyle", src, "-o", out, *args, *ip)
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["restyle"]["ip_adapter"]["style_image"] == str(style)
    no_adapter = run_cli("restyle", src, "-o", tmp_path / "o2.mp4", *args, "--style-image", style)
    assert no_adapter.exit_code == 2 and "--ip-adapter" in no_adapter.stderr


def test_preview_rows_per_lora_weight(tiny_model_dir, tiny_adapters, tmp_path):
    from vidx.io.images import read_image
    from vidx.jobs.preview import HEADER_HEIGHT, LABEL_WIDTH, run_preview
    from vidx.options import RestyleOptions

    src = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 64))
    lora = tiny_adapters["lora"]
    base = RestyleOptions(prompt="x", model=str(tiny_model_dir), steps=3, work_size=64)
    rows = ["", f"{lora}:0", f"{lora}:1"]
    out = tmp_path / "sheet.png"
    info = run_preview(src, out, base, {"lora": rows}, frames=2, cell_width=64)
    assert info["rows"] == [
        "source",
        "lora none",
        "lora lora.safetensors:0",
        "lora lora.safetensors:1",
    ]
    sheet = read_image(out).astype(int)
    row = [
        sheet[HEADER_HEIGHT + r * 64 : HEADER_HEIGHT + (r + 1) * 64, LABEL_WIDTH:]
        for r in (1, 2, 3)
    ]
    assert np.array_equal(row[0], row[1])  # weight 0 is no LoRA
    assert np.abs(row[2] - row[0]).mean() > 1.0
    assert [len(r["lora"]) for r in info["restyle"]] == [0, 1, 1]


def test_lora_on_sdxl(tiny_xl_dir, tmp_path):
    import importlib.util

    from tests.vidx.restyle.diffusion.conftest import ROOT

    spec = importlib.util.spec_from_file_location(
        "make_tiny_adapters", ROOT / "scripts" / "make_tiny_adapters.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lora = str(module.build_tiny_lora(tiny_xl_dir, tmp_path / "xl.safetensors", seed=4))
    pipe = load_pipeline(str(tiny_xl_dir), "cpu", "fp32")
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    from vidx.frame import FrameContext

    def one(**kw) -> np.ndarray:
        r = DiffusionRestyler(options(tiny_xl_dir, steps=3, **kw), pipe=pipe)
        return r(image, FrameContext(0, image, keyframe=True))

    plain, styled, zero = one(), one(lora=(f"{lora}:1.0",)), one(lora=(f"{lora}:0.0",))
    assert np.array_equal(plain, zero) and np.abs(plain.astype(int) - styled).mean() > 1.0


def test_prompt_schedule_in_seconds_on_the_command_line(tiny_model_dir, tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 64), fps=24)
    out = tmp_path / "out.mp4"
    args = ["--model", tiny_model_dir, "--steps", "2", "--work-size", "64", "--segment-frames", "3"]
    schedule = ["--prompt-schedule", "0:snowy street; 0.125s:summer street"]
    result = run_cli("restyle", src, "-o", out, *args, *schedule, "--prompt-transition", "2")
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["params"]["restyle"]["prompt_schedule"] == "0: snowy street; 3: summer street"
    assert meta["restyle"]["prompt_schedule"][1] == {"frame": 3, "prompt": "summer street"}
    bad = run_cli("restyle", src, "-o", tmp_path / "b.mp4", *args, "--prompt-schedule", "3:x")
    assert bad.exit_code == 2 and "--prompt-schedule starts at frame 3" in bad.stderr
