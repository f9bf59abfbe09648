"""`vidx restyle --prompt` end to end with the tiny model, and its model errors at the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import make_clip, video_timestamps
from vidx.cli import app

runner = CliRunner()


def restyle(src: Path, out: Path, *extra: str):  # noqa: ANN201
    return runner.invoke(app, ["restyle", str(src), "-o", str(out), *extra])


def test_prompt_restyle_end_to_end(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=5, size=(96, 64), audio=True)
    out = tmp_path / "out.mp4"
    result = restyle(
        src,
        out,
        "--prompt",
        "a watercolor",
        "--model",
        str(tiny_model_dir),
        "--steps",
        "4",
        "--work-size",
        "64",
        "--size",
        "x2",
        "--seed",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert video_timestamps(out) == pytest.approx(video_timestamps(src), abs=1e-3)
    meta = json.loads(Path(str(out) + ".json").read_text())
    assert meta["restyle"]["unet_calls"] > 0 and meta["size"]["canvas"] == [192, 128]


@pytest.mark.parametrize(
    ("model", "extra", "needle"),
    [
        ("missing-folder/", [], "missing-folder"),
        ("someone/not-cached-model", [], "someone/not-cached-model"),
        ("weights.ckpt", [], "--allow-pickle"),
    ],
)
def test_bad_models_are_one_line_errors(tmp_path: Path, model, extra, needle) -> None:  # noqa: ANN001
    src = make_clip(tmp_path / "in.mp4", frames=2)
    if model.endswith(".ckpt"):
        (tmp_path / model).write_bytes(b"not really a checkpoint")
        model = str(tmp_path / model)
    out = tmp_path / "out.mp4"
    result = restyle(src, out, "--prompt", "x", "--model", model, *extra)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    assert not out.exists()


def test_prompt_and_style_together_is_refused(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=2)
    result = restyle(src, tmp_path / "o.mp4", "--prompt", "x", "--style", "3")
    assert result.exit_code == 2 and "not both" in result.stderr
