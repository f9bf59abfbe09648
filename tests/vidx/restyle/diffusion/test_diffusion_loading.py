"""Model loading: a diffusers folder loads; every bad value is one clear ModelError."""

from __future__ import annotations

import pytest

from vidx.errors import ModelError
from vidx.restyle.diffusion import load_pipeline


def test_folder_loads_as_img2img(tiny_pipe):
    assert type(tiny_pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    assert tiny_pipe.safety_checker is None


def test_missing_path(tmp_path):
    missing = tmp_path / "nope" / "model.safetensors"
    with pytest.raises(ModelError, match="does not exist") as err:
        load_pipeline(str(missing), "cpu", "fp32")
    assert str(missing) in str(err.value)


def test_text_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    with pytest.raises(ModelError, match="not a model file"):
        load_pipeline(str(notes), "cpu", "fp32")


def test_text_file_named_safetensors(tmp_path):
    fake = tmp_path / "fake.safetensors"
    fake.write_text("not a model")
    with pytest.raises(ModelError, match="fake.safetensors"):
        load_pipeline(str(fake), "cpu", "fp32")


def test_folder_without_model_index(tmp_path):
    with pytest.raises(ModelError, match="model_index.json"):
        load_pipeline(str(tmp_path), "cpu", "fp32")


def test_folder_of_another_pipeline(tmp_path):
    (tmp_path / "model_index.json").write_text('{"_class_name": "FluxPipeline"}')
    with pytest.raises(ModelError, match="FluxPipeline"):
        load_pipeline(str(tmp_path), "cpu", "fp32")


def test_pickle_checkpoint_needs_allow_pickle(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelError, match="--allow-pickle"):
        load_pipeline(str(ckpt), "cpu", "fp32")


def test_offline_hub_id_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError) as err:
        load_pipeline("someone/some-sd-model", "cpu", "fp32")
    text = str(err.value)
    assert "someone/some-sd-model" in text and "download" in text and "HF_HUB_OFFLINE" in text


def test_empty_model_value():
    with pytest.raises(ModelError, match="--model"):
        load_pipeline("  ", "cpu", "fp32")
