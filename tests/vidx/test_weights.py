"""One weights loader: safetensors always, pickles only with --allow-pickle, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vidx.errors import ModelError
from vidx.weights import clean_state_dict, first_line, load_raft_weights, load_state_dict

STATE = {"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.ones(2)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_safetensors_loads_without_permission(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({f"module.{k}": v for k, v in STATE.items()}, str(path))
    assert same(load_state_dict(path, allow_pickle=False, what="upscaler model"), STATE)


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt", ".bin"])
def test_pickles_need_permission(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"w{suffix}"
    torch.save(STATE, path)
    with pytest.raises(ModelError) as info:
        load_state_dict(path, allow_pickle=False, what="RAFT weights")
    assert str(info.value) == (
        f"RAFT weights {path} is a pickled file; pass --allow-pickle to load it "
        "(with weights_only=True), or convert it to .safetensors"
    )
    assert same(load_state_dict(path, allow_pickle=True, what="RAFT weights"), STATE)


@pytest.mark.parametrize("wrapper", ["params_ema", "params", "state_dict", "model"])
def test_training_wrappers_are_unwrapped(tmp_path: Path, wrapper: str) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({wrapper: {f"module.{k}": v for k, v in STATE.items()}, "epoch": 3}, path)
    assert same(load_state_dict(path, allow_pickle=True, what="model"), STATE)


def test_params_ema_wins_over_params() -> None:
    state = clean_state_dict({"params": {"a": torch.zeros(1)}, "params_ema": STATE}, "x")
    assert same(state, STATE)


def test_code_in_a_pickle_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(1), "hook": os.system}, path)
    with pytest.raises(ModelError) as info:
        load_state_dict(path, allow_pickle=True, what="upscaler model")
    message = str(info.value)
    assert message.startswith(f"upscaler model {path} cannot be loaded safely with weights_only")
    assert "\n" not in message and "\x1b" not in message and "GLOBAL posix.system" in message


def test_unreadable_files_are_one_line_model_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    junk = tmp_path / "j.pth"
    junk.write_bytes(b"junk" * 10)
    empty_dict = tmp_path / "e.pth"
    torch.save({"epoch": 3}, empty_dict)
    odd = tmp_path / "m.onnx"
    odd.write_bytes(b"x")
    fifo = tmp_path / "p.safetensors"
    os.mkfifo(fifo)
    cases = [
        (garbage, "not a readable safetensors file"),
        (junk, "cannot be loaded safely"),
        (empty_dict, "holds no weights"),
        (odd, "unknown suffix '.onnx'"),
        (tmp_path / "none.safetensors", "does not exist"),
        (tmp_path, "is a folder"),
        (fifo, "named pipe"),
    ]
    for path, words in cases:
        with pytest.raises(ModelError) as info:
            load_state_dict(path, allow_pickle=True, what="model")
        assert words in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_raft_weights_go_through_the_same_rule(tmp_path: Path) -> None:
    path = tmp_path / "raft.pth"
    torch.save(STATE, path)
    with pytest.raises(ModelError, match="^RAFT weights .*--allow-pickle"):
        load_raft_weights(path, allow_pickle=False)
    assert same(load_raft_weights(path, allow_pickle=True), STATE)


def test_raft_model_is_checked_up_front(tmp_path: Path) -> None:
    from torchvision.models.optical_flow import raft_small

    from vidx.weights import load_raft_model

    torch.manual_seed(0)
    good = tmp_path / "raft_small.safetensors"
    save_file({k: v.contiguous() for k, v in raft_small(weights=None).state_dict().items()}, good)
    model = load_raft_model(good, allow_pickle=False)
    assert isinstance(model, torch.nn.Module) and not model.training
    bad = tmp_path / "bad.safetensors"
    save_file(STATE, str(bad))
    with pytest.raises(ModelError, match=r"^RAFT weights .*bad.safetensors fit neither"):
        load_raft_model(bad, allow_pickle=False)


def test_first_line() -> None:
    assert first_line(RuntimeError("\n  a\nb")) == "a"
    assert first_line(RuntimeError("")) == "RuntimeError"
    assert len(first_line(RuntimeError("x" * 500))) == 200
