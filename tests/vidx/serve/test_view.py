"""The web UI's form-to-options mapping, status lines and model paths (no Gradio needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidx.errors import OptionError
from vidx.serve.paths import model_path
from vidx.serve.queue import Job
from vidx.serve.view import (
    DIFFUSION,
    EMBEDDED,
    PICTURE,
    RestyleForm,
    clock,
    form_options,
    job_rows,
    number_list,
    state_text,
    style_choices,
)


def form(backend: str = EMBEDDED, **change):  # noqa: ANN003, ANN201 - test helper
    values = dict(
        backend=backend,
        style="19 blue-swirl",
        style_image=None,
        prompt="",
        model="",
        strength=0.7,
        size="x2",
        upscaler="lanczos",
        seed=3.0,
        compare=True,
    )
    values.update(change)
    return form_options(RestyleForm(**values))


def test_embedded_style_form_gives_the_cli_options() -> None:
    assert form() == {
        "size": "x2",
        "upscaler": "lanczos",
        "strength": 0.7,
        "style": "19",
        "seed": 3,
        "compare": "side",
    }
    assert "compare" not in form(compare=False)
    assert form(steady=False)["upscale_temporal"] is False and "upscale_temporal" not in form()
    assert style_choices()[19] == "19 blue-swirl"


def test_each_backend_needs_its_own_fields() -> None:
    with pytest.raises(OptionError, match="upload a picture") as info:
        form(PICTURE)
    assert info.value.param == "style_image"
    assert form(PICTURE, style_image="/x/s.png")["style_image"] == "/x/s.png"
    with pytest.raises(OptionError) as info:
        form(DIFFUSION, prompt="snow")
    assert info.value.param == "model"
    opts = form(DIFFUSION, prompt="snow", model="m", strength=0.0)
    assert opts["prompt"] == "snow" and opts["strength"] == 0.5 and "style" not in opts
    with pytest.raises(OptionError, match="whole number"):
        form(seed=1.5)


def test_number_list() -> None:
    assert number_list("0.25, 0.5;1") == [0.25, 0.5, 1.0]
    with pytest.raises(OptionError, match="comma list"):
        number_list("a, b")
    with pytest.raises(OptionError, match="1 to 8 values"):
        number_list("")


def test_status_lines() -> None:
    job = Job("0002", "render", "/s/a.mp4", "/o.mp4", {}, name="a.mp4")
    assert state_text(job, 0) == "job 0002 (render of a.mp4) waiting: next in line"
    assert state_text(job, 2).endswith("waiting: 2 jobs ahead")
    job.state, job.phase = "running", "scanning the input's frames"
    assert state_text(job, None).endswith("running: scanning the input's frames")
    job.done, job.total, job.fps = 30, 90, 2.0
    assert state_text(job, None).endswith("running: 30/90 frames, 2.0 fps, ETA 0:30")
    job.state, job.frames, job.started, job.finished = "done", 90, 10.0, 55.0
    assert state_text(job, None).endswith("done: 90 frames, 45.0 s")
    assert job_rows([job], {})[0][:5] == ["0002", "render", "a.mp4", "done", "30/90"]
    assert clock(3725) == "1:02:05" and clock(None) == "–"


def test_model_paths_stay_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "models" / "sd").mkdir(parents=True)
    assert model_path(tmp_path, "models/sd") == str((tmp_path / "models" / "sd").resolve())
    assert model_path(tmp_path, "runwayml/stable-diffusion-v1-5") == (
        "runwayml/stable-diffusion-v1-5"
    )
    for bad in ("/etc/sd", "../sd", "models/missing.safetensors", "~/sd"):
        with pytest.raises(OptionError, match="not a model folder or file under the root"):
            model_path(tmp_path, bad)
    with pytest.raises(OptionError):
        model_path(None, "./sd")
