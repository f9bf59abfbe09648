"""The built-in small-sd model (trained on photos by scripts/train_small_model.py): listed by
``vidx models``, loaded by name everywhere a model is named, and its img2img keeps a picture
it never saw, where a random-weight model returns noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import temporal
from tests.vidx.restyle.diffusion.conftest import tiny_options
from vidx.frame import FrameContext
from vidx.restyle.diffusion import DiffusionRestyler, load_pipeline
from vidx.restyle.diffusion.builtin import REGISTRY, builtin_folder

SIZE = 256  # the size of the check (scripts/check_small_model.py)


@pytest.fixture(scope="module")
def small_pipe():
    return load_pipeline("small-sd", "cpu", "fp32")


def held_out_photo(name: str) -> np.ndarray:
    """A photo the model never trained on (scripts/train_small_model.py HELD_OUT), square."""
    from skimage import data

    picture = getattr(data, name)()
    h, w = picture.shape[:2]
    s = min(h, w)
    square = picture[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def restyle_once(pipe, model: str, photo: np.ndarray) -> np.ndarray:
    opts = tiny_options(model, prompt="a photo", strength=0.5, steps=20, work_size=SIZE, seed=0)
    return DiffusionRestyler(opts, pipe=pipe)(photo, FrameContext(0, photo, keyframe=True))


def test_the_model_ships_and_vidx_models_lists_it() -> None:
    from vidx.cli import app

    folder = builtin_folder("small-sd")
    assert folder is not None and folder == REGISTRY["small-sd"].folder
    weights = sorted(folder.rglob("*.safetensors"))
    assert {w.parent.name for w in weights} == {"unet", "vae", "text_encoder"}
    assert sum(w.stat().st_size for w in weights) <= 30e6  # the size limit
    assert (folder / "MODEL_CARD.md").is_file()
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0
    line = next(ln for ln in result.output.splitlines() if ln.startswith("small-sd"))
    assert "diffusion" in line and "MB" in line


@pytest.mark.parametrize("name", ["chelsea"])  # the hardest of the held-out photos
def test_img2img_keeps_the_structure_of_a_photo_it_never_saw(
    small_pipe, tiny_pipe, tiny_model_dir, name
) -> None:
    photo = held_out_photo(name)
    out = restyle_once(small_pipe, "small-sd", photo)
    assert out.shape == photo.shape and out.dtype == np.uint8
    # the edges are where the photo has them, and the picture is neither smoothed away nor noise:
    # it keeps about half the photo's gradient energy (0.51-0.56 here; its factor-4 autoencoder
    # loses the finest detail), a blurred or flat output far less, a noisy one more than 2x
    assert temporal.structure_ncc(out, photo) >= 0.5
    detail = temporal.gradient_energy(out) / temporal.gradient_energy(photo)
    assert 0.45 <= detail <= 2.0
    # what a random-weight model does with the same call: the check tells the two apart
    noise = restyle_once(tiny_pipe, str(tiny_model_dir), photo)
    assert temporal.structure_ncc(noise, photo) < 0.3


def test_a_job_file_names_the_builtin_model(tmp_path) -> None:
    from vidx.jobs.jobfile import load_job

    job = tmp_path / "job.toml"
    job.write_text('[shared]\nprompt = "a photo"\nmodel = "small-sd"\n\n[variants.a]\n')
    assert load_job(job).settings("a")["model"] == "small-sd"  # a name, not a path in tmp_path


def test_the_web_ui_takes_the_builtin_name(tmp_path) -> None:
    from vidx.serve.paths import model_path

    assert model_path(tmp_path, "small-sd") == "small-sd"  # loaded by name, not from the root
