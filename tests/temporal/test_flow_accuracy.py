from __future__ import annotations

import numpy as np
import pytest
import torch

import temporal
from temporal.errors import FlowModelError, TemporalError

MARGIN = 16


def _epe(f: np.ndarray, gt: np.ndarray) -> float:
    d = (f - gt)[MARGIN:-MARGIN, MARGIN:-MARGIN]
    return float(np.linalg.norm(d, axis=2).mean())


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_default_dis_is_subpixel_accurate(photos, affine_pair, motions, name):
    img = photos[name]
    for motion, m in motions(img).items():
        dst, gt = affine_pair(img, m)
        f = temporal.flow(img, dst)
        assert f.shape == (*img.shape[:2], 2) and f.dtype == np.float32
        assert _epe(f, gt) < 0.15, (name, motion, _epe(f, gt))


def test_grayscale_input_and_direction(photos, affine_pair, motions):
    img = photos["chelsea"]
    dst, gt = affine_pair(img, motions(img)["pan"])
    f = temporal.flow(img[:, :, 1], dst[:, :, 1:2])
    assert _epe(f, gt) < 0.2
    back = temporal.flow(dst, img)  # the reverse flow points the other way
    assert _epe(back, -gt) < 0.2


@pytest.mark.parametrize(
    ("method", "preset", "scale", "limit"),
    [("dis", "ultrafast", 1.0, 0.8), ("dis", "medium", 0.5, 0.6), ("dis", "fine", 0.25, 0.8)],
)
def test_other_presets_and_scales(photos, affine_pair, motions, method, preset, scale, limit):
    img = photos["coffee"]
    dst, gt = affine_pair(img, motions(img)["zoom"])
    f = temporal.flow(img, dst, method, preset=preset, scale=scale)
    assert f.shape == (*img.shape[:2], 2)
    assert _epe(f, gt) < limit


def test_farneback_follows_a_pan(photos, affine_pair, motions):
    img = photos["chelsea"]
    dst, gt = affine_pair(img, motions(img)["pan"])
    f = temporal.flow(img, dst, "farneback")
    err = np.linalg.norm((f - gt)[MARGIN:-MARGIN, MARGIN:-MARGIN], axis=2)
    assert np.median(err) < 0.2  # Farneback has heavy tails on real photos; its median is fine


def test_raft_needs_weights_file(photos, tmp_path):
    img = photos["chelsea"][:64, :64]
    with pytest.raises(TemporalError, match="raft_weights"):
        temporal.flow(img, img, "raft")
    with pytest.raises(FlowModelError, match="not found"):
        temporal.flow(img, img, "raft", raft_weights=str(tmp_path / "none.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(FlowModelError, match="neither"):
        temporal.flow(img, img, "raft", raft_weights=str(bad))


def test_raft_runs_from_a_local_safetensors_file(photos, tmp_path):
    from safetensors.torch import save_file
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.safetensors"
    save_file({k: v.contiguous() for k, v in raft_small(weights=None).state_dict().items()}, path)
    img = photos["chelsea"][:60, :76]  # not a multiple of 8: padded inside
    f = temporal.flow(img, img, "raft", raft_weights=str(path), device="cpu", raft_updates=2)
    assert f.shape == (60, 76, 2) and f.dtype == np.float32 and np.isfinite(f).all()


def test_raft_from_a_loaded_state_dict_or_module(photos):
    """The caller may read the file itself (its own pickle rules) and hand over the dict."""
    from torchvision.models.optical_flow import raft_small

    from temporal.raft import build_raft, raft_model

    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in raft_small(weights=None).state_dict().items()}
    img = photos["chelsea"][:40, :48]
    dst = photos["chelsea"][2:42, 3:51]
    f = temporal.flow(img, dst, "raft", raft_weights=state, device="cpu", raft_updates=2)
    assert f.shape == (40, 48, 2) and np.isfinite(f).all()
    built = raft_model(state, "cpu")
    assert raft_model(state, "cpu") is built  # built once per dict, cached by identity
    model = build_raft(state)
    assert raft_model(model, "cpu") is model  # a module is used as it is
    for a, b in zip(built.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(FlowModelError, match="neither.*keys missing, 1 unexpected .*'weight'"):
        temporal.flow(img, img, "raft", raft_weights={"weight": torch.zeros(3)})
    with pytest.raises(FlowModelError, match="must be a file path"):
        temporal.flow(img, img, "raft", raft_weights=3)


def test_bad_arguments_name_themselves(photos):
    img = photos["chelsea"][:32, :32]
    for kwargs, word in [
        ({"method": "lk"}, "method"),
        ({"preset": "slow"}, "preset"),
        ({"scale": 0}, "scale"),
        ({"scale": 1.5}, "scale"),
    ]:
        with pytest.raises(ValueError, match=word):
            temporal.flow(img, img, **kwargs)
    with pytest.raises(ValueError, match="same size"):
        temporal.flow(img, img[:16])
    with pytest.raises(ValueError, match="uint8"):
        temporal.flow(img.astype(np.float32), img)
