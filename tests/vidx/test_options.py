"""Options declared once: the CLI, job files and the API share names, defaults and checks; the
CLI and the API give the same output and sidecar (import cycles and layers:
tests/test_architecture.py)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.main import get_command

import vidx
from tests.conftest import run_cli
from vidx.cli import app, flag
from vidx.errors import OptionError
from vidx.jobs.jobfile import job_keys, load_job
from vidx.options import JobOptions, Opt, all_options, default_of

ROOT = Path(__file__).resolve().parents[2]


def cli_defaults(command: str) -> dict[str, object]:
    click = get_command(app).commands[command]  # type: ignore[attr-defined]
    return {p.name: p.default for p in click.params if p.name in all_options()}


def test_every_option_is_a_cli_flag_with_the_declared_default() -> None:
    restyle = cli_defaults("restyle")
    assert set(restyle) == set(all_options())
    for name, (_, f) in all_options().items():
        assert restyle[name] == default_of(f), name
    assert set(cli_defaults("upscale")) < set(restyle)


def test_defaults_are_identical_from_cli_job_file_and_api(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text("[variants.a]\n")
    from_job = JobOptions.from_flat(load_job(job).settings("a"))
    from_api = JobOptions()
    from_cli = JobOptions.from_flat(cli_defaults("restyle"))
    assert from_job == from_api == from_cli
    assert from_api.analysis.keyframe_interval == 30  # once 0 in the library, 30 in the CLI


def test_job_files_take_every_option_but_the_command_line_ones() -> None:
    shared = job_keys(shared=True)
    assert "allow_pickle" not in shared and "overwrite" not in shared
    assert {"style", "model", "upscaler", "keyframe_interval", "fit"} <= set(shared)
    assert "keyframe_interval" not in job_keys(shared=False)


def test_errors_name_the_parameter_and_the_cli_maps_it() -> None:
    with pytest.raises(OptionError) as caught:
        JobOptions.from_flat({"fit": "fill"})
    assert caught.value.param == "fit" and str(caught.value).startswith("fit must be")
    assert caught.value.named(flag("fit")).startswith("--fit must be")
    assert flag("max_frames") == "--max-frames" and flag("output") == "-o"
    for name, (_, f) in all_options().items():
        assert Opt.of(f).panel, name


def test_the_manifest_leaves_out_what_may_change_on_resume() -> None:
    data = JobOptions().with_values(overwrite=True, restart=True).to_dict(resume_only=True)
    assert data["schema"] == 1 and data["run"] == {"segment_frames": 240, "passes": 1}
    assert data["restyle"]["diffusion_temporal"]["reuse_strength"] == 0.35


def test_the_backend_runs_the_options_as_resolved_says() -> None:
    """One place resolves the backend defaults and the temporal switch
    (``RestyleOptions.resolved``); the diffusion backend takes the groups themselves."""
    from vidx.options import DiffusionTemporalOptions

    spec = JobOptions().with_values(prompt="p", model="m", strength=0.6).restyle
    run = spec.resolved()
    assert run.diffusion_temporal == DiffusionTemporalOptions() == spec.diffusion_temporal
    assert (run.strength, run.work_size) == (0.6, 512) and run.resolved() == run
    plain = JobOptions().with_values(prompt="p", model="m").restyle.resolved()
    assert (plain.strength, plain.diffusion_temporal.reuse_strength) == (0.5, 0.35)
    low = JobOptions().with_values(prompt="p", model="m", strength=0.2).restyle.resolved()
    assert low.diffusion_temporal.reuse_strength == 0.2
    style = JobOptions().with_values(style="3").restyle.resolved()
    assert (style.strength, style.work_size) == (1.0, 1024)
    with pytest.raises(OptionError) as caught:
        JobOptions.from_flat({"fusion_weight": 2.0})
    assert caught.value.named(flag("fusion_weight")).startswith("--fusion-weight must be")
    off = JobOptions().with_values(prompt="p", model="m", temporal=False).restyle.resolved()
    t = off.diffusion_temporal
    assert not (t.anchor_keyframes or t.latent_blend or t.propagate or t.cross_frame_attn)
    assert t.fusion_weight == 0.0 and t.skip_covered == 0.0
    unpropagated = JobOptions().with_values(prompt="p", model="m", propagate=False).restyle
    assert unpropagated.resolved().diffusion_temporal.skip_covered == 0.0


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_cli_and_api_give_the_same_frames_and_sidecar(clip, tmp_path: Path) -> None:
    src = clip(frames=6)
    a, b = tmp_path / "cli.mp4", tmp_path / "api.mp4"
    # lossless: libx264's lossy output may differ between two encodes of the same frames
    # (docs/SCALING.md, "Determinism"); what must agree is what vidx hands the encoder
    args = ["restyle", str(src), "-o", str(a), "--style", "3", "--strength", "0.5", "--size"]
    result = run_cli(*args, "x2", "--crf", "0")
    assert result.exit_code == 0, result.output
    vidx.render(src, b, style="3", strength=0.5, size="x2", crf=0)
    for x, y in zip(frames(a), frames(b), strict=True):
        np.testing.assert_array_equal(x, y)
    side_a = json.loads(Path(f"{a}.json").read_text())
    side_b = json.loads(Path(f"{b}.json").read_text())
    assert side_a["params"] == side_b["params"]
    assert side_a["params"]["restyle"]["style"] == "3"


def test_the_api_is_exported_and_takes_plain_strings(clip, tmp_path: Path) -> None:
    for name in ("render", "preview", "variants", "probe", "metrics", "JobOptions"):
        assert hasattr(vidx, name), name
    info = vidx.probe(str(clip(frames=3)))
    assert info.frames == 3


def test_cli_functions_are_short() -> None:
    tree = ast.parse((ROOT / "vidx" / "cli.py").read_text())
    long = [
        (n.name, n.end_lineno - n.lineno + 1)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 60
    ]
    assert long == []


def test_a_repeatable_option_is_one_value_on_every_face(tmp_path: Path) -> None:
    """``lora`` (``tuple[str, ...]``): a repeated flag, a job-file list and an API tuple."""
    from vidx.cli import given

    (tmp_path / "a.safetensors").write_bytes(b"")
    (tmp_path / "b.safetensors").write_bytes(b"")
    a, b = str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors:0.5")
    job = tmp_path / "job.toml"
    job.write_text(
        "[shared]\nprompt = 'x'\nmodel = 'org/model'\n"
        "[variants.v]\nlora = ['a.safetensors', 'b.safetensors:0.5']\n"
    )
    from_job = JobOptions.from_flat(load_job(job).settings("v"))
    from_api = JobOptions().with_values(prompt="x", model="org/model", lora=(a, b))
    cli_values = {**cli_defaults("restyle"), "prompt": "x", "model": "org/model", "lora": [a, b]}
    from_cli = JobOptions.from_flat(given(cli_values, list(all_options())))
    assert from_job.restyle.lora == from_api.restyle.lora == from_cli.restyle.lora == (a, b)
    with pytest.raises(OptionError, match="lora must be a list of text"):
        JobOptions.from_flat({"prompt": "x", "model": "m", "lora": [1]})
    bad = tmp_path / "bad.toml"
    bad.write_text("[variants.v]\nprompt = 'x'\nmodel = 'org/m'\nlora = ['../x.safetensors']\n")
    with pytest.raises(OptionError, match="bad.toml:4: lora '../x.safetensors' must be a path"):
        load_job(bad)
