"""Carried segment state files are data (issue 23): whatever bytes a ``segNNNNN.state`` holds,
resuming never runs code, never allocates more than the file, and either gives the frames of an
uninterrupted run (the file is not the one the manifest recorded: its segment is rendered
again) or stops with one line and exit 2 (the manifest was edited to match it)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load, save

import vidx
from tests.conftest import make_clip
from tests.vidx.safety.helpers import assert_user_error
from tests.vidx.safety.helpers import vidx as run_cli
from tests.vidx.scale.test_ray_jobs import same_frames
from vidx.analysis import Analyzer
from vidx.frame import Frame
from vidx.jobs.segments import MANIFEST, parts_dir
from vidx.jobs.state import CARRIED, StateError, dumps, restore
from vidx.options import AnalysisOptions

FRAMES, SEGMENT = 24, 8
STYLE = {"style": "3", "analysis_size": 64, "crf": 0, "segment_frames": SEGMENT, "seams": "carry"}
FLAGS = ["--style", "3", "--analysis-size", "64", "--crf", "0", "--segment-frames", str(SEGMENT)]
FLAGS += ["--seams", "carry"]


# --- the receiving side, on real holders --------------------------------------------------


def analyzer(size: tuple[int, int] = (96, 64), frames: int = 3) -> Analyzer:
    a = Analyzer(AnalysisOptions(analysis_size=64, keyframe_interval=4))
    rng = np.random.default_rng(0)
    for i in range(frames):
        rgb = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        a(Frame(rgb, i, Fraction(1, 24), i))
    return a


def edit(data: bytes, change) -> bytes:
    """``data`` with its structure and entries changed by ``change(tree, tensors)``."""
    tensors = load(data)
    size = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8 : 8 + size])["__metadata__"]
    tree = json.loads(meta["tree"])
    change(tree, tensors)
    return save(tensors, metadata={**meta, "tree": json.dumps(tree)})


def find(tree, cls: str) -> dict:
    """The first object node of class ``cls`` in ``tree``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("$") == "object" and node["class"].endswith(cls):
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError(cls)


def test_a_state_goes_into_fresh_holders_exactly():
    a = analyzer()
    fresh = Analyzer(AnalysisOptions(analysis_size=64, keyframe_interval=4))
    restore(fresh, dumps(a))
    assert np.array_equal(fresh._prev, a._prev)
    assert fresh.scheduler.last_keyframe == a.scheduler.last_keyframe
    assert fresh.options is not a.options  # the options are the receiver's own, not loaded


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda t, x: find(t, "Analyzer")["fields"].pop("cuts"), "fields missing"),
        (lambda t, x: find(t, "Analyzer")["fields"].update(extra=1), "unexpected"),
        (lambda t, x: find(t, "Analyzer").update({"class": "os:_wrap_close"}), "may not create"),
        (lambda t, x: find(t, "KeyframeScheduler").update({"class": "builtins:type"}), "create"),
        (lambda t, x: x.update({"0": torch.zeros(3, 3, dtype=torch.uint8)}), "tensor|array"),
        (lambda t, x: x.update({"spare": torch.zeros(4)}), "nothing refers to"),
        (lambda t, x: find(t, "Analyzer")["fields"].update(cuts={"$": "pickle"}), "unknown kind"),
        (lambda t, x: find(t, "Analyzer")["fields"].update(cuts={"$": "ref", "id": 9}), "ref"),
        (lambda t, x: find(t, "Analyzer")["fields"].update(cuts={"$": "kept", "path": ".x"}), "x"),
        (lambda t, x: find(t, "Analyzer")["fields"].update(cuts=[[[[[[]]]]]] * 1), None),
    ],
    ids=[
        "missing", "extra", "other-class", "builtin", "shape", "unused", "kind", "ref", "kept",
        "plain-list",
    ],
)  # fmt: skip
def test_a_state_that_does_not_fit_is_refused_and_changes_nothing(change, why):
    a, fresh = analyzer(), analyzer(frames=1)
    before = (fresh._prev.copy(), fresh.scheduler.last_keyframe, fresh.cuts)
    bad = edit(dumps(a), change)
    if why is None:  # a list where an int was: data, loaded as such (strictness is by name)
        restore(fresh, bad)
        return
    with pytest.raises(StateError, match=why):
        restore(fresh, bad)
    assert np.array_equal(fresh._prev, before[0])
    assert (fresh.scheduler.last_keyframe, fresh.cuts) == before[1:]


def test_a_dataclass_the_holders_make_is_created_only_from_the_declared_ones():
    from temporal.propagate import Anchor

    z = np.zeros((4, 4, 3), np.float32)
    holder, fresh = analyzer(), analyzer(frames=1)
    holder.anchor = Anchor(z, z, np.zeros((4, 4, 2), np.float32), age=2)  # made while running
    fresh.anchor = None
    data = dumps(holder)
    restore(fresh, data)
    assert isinstance(fresh.anchor, Anchor) and fresh.anchor.age == 2

    def rename(t, x):
        find(t, "Anchor")["class"] = "vidx.restyle.diffusion.engine:FramePlan"

    with pytest.raises(StateError, match="may not create"):
        restore(fresh, edit(data, rename))


def test_an_undeclared_dataclass_is_refused_when_written():
    from vidx.restyle.diffusion.engine import FramePlan

    t = torch.zeros(1)
    with pytest.raises(StateError, match="declare it in vidx.jobs.state.CARRIED"):
        dumps([FramePlan(t, t, t, False, False)])


def test_the_declared_dataclasses_exist_and_hold_only_their_fields():
    """CARRIED names real dataclasses (a rename would otherwise refuse every state)."""
    import dataclasses
    import importlib

    for name in CARRIED:
        module, qualname = name.split(":")
        cls = getattr(importlib.import_module(module), qualname)
        assert dataclasses.is_dataclass(cls), name
        assert not hasattr(cls, "__slots__") or not cls.__slots__, name


def random_states() -> list[bytes]:
    rng = np.random.default_rng(23)
    good = dumps(analyzer())
    header = json.dumps({"0": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 1 << 32]}})
    return [
        b"",
        b"\x00" * 7,
        rng.bytes(64),
        rng.bytes(5000),
        good[: len(good) // 2],
        good[:-1],
        struct.pack("<Q", 1 << 62) + b"{}",  # a header longer than the file
        struct.pack("<Q", len(header)) + header.encode(),  # a 4 GiB entry in a tiny file
        pickle.dumps(bytearray(8)),
        b"\x80\x04\x95" + rng.bytes(40),
        edit(good, lambda t, x: t.clear() if isinstance(t, dict) else t.append(1)),
        edit(good, lambda t, x: None).replace(b'"version":"2"', b'"version":"1"'),
        save({}, metadata={"format": "vidx-state", "version": "2", "tree": "[" * 100_000}),
        save({}, metadata={"format": "vidx-state", "version": "2", "tree": "1e999999"}),
    ]


@pytest.mark.parametrize("k", range(14))
def test_any_bytes_are_refused_with_a_state_error_and_allocate_nothing_large(k):
    import resource

    data = random_states()[k]
    fresh = analyzer(frames=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(StateError):
        restore(fresh, data)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 100_000, f"{grown} kB more resident memory"  # ru_maxrss is in kB


# --- a whole resumed job ------------------------------------------------------------------


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A clip, its uninterrupted carried render, and the parts folder of the same job stopped
    in its third segment (the end states of segments 0 and 1 kept)."""
    root = tmp_path_factory.mktemp("state-files")
    clip = make_clip(root / "in.mp4", frames=FRAMES)
    straight = root / "straight.mp4"
    vidx.render(clip, straight, **STYLE)  # type: ignore[arg-type]
    stopped = root / "stopped.mp4"  # 3 segments: stopped in the third, two end states kept

    def stop_in_third_segment(p: object) -> None:
        if getattr(p, "done", 0) == 2 * SEGMENT + 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vidx.render(clip, stopped, **STYLE, on_progress=stop_in_third_segment)  # type: ignore[arg-type]
    other = root / "other.mp4"  # a state of another job: a bigger clip, other shapes
    big = make_clip(root / "big.mp4", frames=FRAMES, size=(128, 80))
    with pytest.raises(KeyboardInterrupt):
        vidx.render(big, other, **STYLE, on_progress=stop_in_third_segment)  # type: ignore[arg-type]
    return {"clip": clip, "straight": straight, "stopped": parts_dir(stopped), "other": other}


def resume(job: dict[str, Path], tmp_path: Path, state: bytes, *, record: bool):
    """Resume a copy of the stopped job with ``state`` as segment 1's end state, the one its
    third segment goes on from (``record``: the manifest edited to match it, as an attacker
    who can write both would)."""
    out = tmp_path / "out.mp4"
    shutil.copytree(job["stopped"], parts_dir(out))
    (parts_dir(out) / "seg00001.state").write_bytes(state)
    if record:
        manifest = parts_dir(out) / MANIFEST
        data = json.loads(manifest.read_text())
        data["states"]["1"] = {"size": len(state), "sha256": hashlib.sha256(state).hexdigest()}
        manifest.write_text(json.dumps(data))
    return out, run_cli("restyle", job["clip"], "-o", out, *FLAGS, "--resume")


def exploit(marker: Path) -> bytes:
    """The pickle of the hostile review: os.system reached through a vidx module's globals."""

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    return pickle.dumps(Evil(), protocol=4)


def hostile_states(job: dict[str, Path], marker: Path) -> dict[str, bytes]:
    good = (job["stopped"] / "seg00001.state").read_bytes()
    other = (parts_dir(job["other"]) / "seg00001.state").read_bytes()
    spare = edit(good, lambda t, x: x.update({"spare": torch.zeros(8)}))
    reshaped = edit(good, lambda t, x: x.update({k: v.reshape(-1) for k, v in x.items()}))
    return {
        "exploit": exploit(marker),
        "random": np.random.default_rng(1).bytes(len(good)),
        "truncated": good[: len(good) // 3],
        "empty": b"",
        "other-job": other,
        "extra-entry": spare,
        "wrong-shapes": reshaped,
        "segment-0": (job["stopped"] / "seg00000.state").read_bytes(),
    }


CASES = ["exploit", "random", "truncated", "empty", "other-job", "extra-entry", "wrong-shapes"]


@pytest.mark.parametrize("case", [*CASES, "segment-0"])
def test_a_state_file_not_as_recorded_is_rendered_again(job, tmp_path, case):
    marker = tmp_path / "ran"
    out, result = resume(job, tmp_path, hostile_states(job, marker)[case], record=False)
    assert result.exit_code == 0, result.stderr
    assert not marker.exists()
    assert "rendering again" in result.stderr and "seg00001.state" in result.stderr
    assert same_frames(out, job["straight"]) == []
    assert not parts_dir(out).exists()


@pytest.mark.parametrize("case", [c for c in CASES if c not in ("empty", "wrong-shapes")])
def test_a_state_file_with_a_matching_manifest_is_refused_in_one_line(job, tmp_path, case):
    marker = tmp_path / "ran"
    out, result = resume(job, tmp_path, hostile_states(job, marker)[case], record=True)
    assert not marker.exists()
    assert_user_error(result, "temporal state")
    assert not out.exists()


def test_the_untouched_state_resumes_to_the_same_frames(job, tmp_path):
    good = (job["stopped"] / "seg00001.state").read_bytes()
    out, result = resume(job, tmp_path, good, record=False)
    assert result.exit_code == 0, result.stderr
    assert "rendering again" not in result.stderr
    assert same_frames(out, job["straight"]) == []


def test_a_reshaped_state_with_a_matching_manifest_stops_or_renders_right(job, tmp_path):
    """The label is in the file, so an attacker who edits the manifest too can keep it: the
    state is then refused in one line, or (where the holders hold nothing of that shape yet)
    taken as the data it is, never as code."""
    marker = tmp_path / "ran"
    out, result = resume(job, tmp_path, hostile_states(job, marker)["wrong-shapes"], record=True)
    assert not marker.exists()
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert_user_error(result, "temporal state")


# --- a two-pass job's keyframe states (--passes 2) ----------------------------------------


@pytest.fixture(scope="module")
def two_pass(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A clip, its uninterrupted two-pass render, and the same job stopped in its second
    segment (every keyframe's states kept)."""
    root = tmp_path_factory.mktemp("two-pass-states")
    clip = make_clip(root / "in.mp4", frames=FRAMES)
    straight, stopped = root / "straight.mp4", root / "stopped.mp4"
    vidx.render(clip, straight, **STYLE, passes=2)  # type: ignore[arg-type]

    def stop_in_second_segment(p: object) -> None:
        if getattr(p, "done", 0) == SEGMENT + 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vidx.render(clip, stopped, **STYLE, passes=2, on_progress=stop_in_second_segment)  # type: ignore[arg-type]
    return {"clip": clip, "straight": straight, "stopped": parts_dir(stopped)}


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("kind", ["key", "image"])
def test_a_hostile_keyframe_state_is_rendered_again_or_refused(two_pass, tmp_path, kind, record):
    """A keyframe's states are read like an end state: not as recorded, the keyframe is
    rendered again; with the manifest edited to match, refused in one line; never run."""
    marker = tmp_path / "ran"
    state = exploit(marker)
    out = tmp_path / "out.mp4"
    shutil.copytree(two_pass["stopped"], parts_dir(out))
    (parts_dir(out) / f"seg00002.{kind}.state").write_bytes(state)
    if record:
        manifest = parts_dir(out) / MANIFEST
        data = json.loads(manifest.read_text())
        entry = {"size": len(state), "sha256": hashlib.sha256(state).hexdigest()}
        data[f"{kind}_states"]["2"] = entry
        manifest.write_text(json.dumps(data))
    result = run_cli("restyle", two_pass["clip"], "-o", out, *FLAGS, "--passes", "2", "--resume")
    assert not marker.exists()
    if record:
        assert_user_error(result, "temporal state")
        assert not out.exists()
        return
    assert result.exit_code == 0, result.stderr
    assert "rendering again the keyframes" in result.stderr and f"seg00002.{kind}" in result.stderr
    assert same_frames(out, two_pass["straight"]) == []
