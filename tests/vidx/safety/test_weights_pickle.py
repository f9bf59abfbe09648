"""Issue 9, case 6: ``--raft-weights x.pth`` (a pickle) is refused without ``--allow-pickle`` in
one line, before anything is unpickled; with it, a pickle carrying code still runs nothing."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx


class Payload:
    """A pickle that would create ``marker`` when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def restyle(src: Path, out: Path, *extra: str):
    return vidx("restyle", src, "-o", out, "--style", "3", "--upscaler", "lanczos", *extra)


def test_raft_pickle_needs_allow_pickle(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    marker = tmp_path / "ran"
    weights = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(2), "p": Payload(marker)}, weights)
    before = snapshot(tmp_path)
    result = restyle(src, tmp_path / "out.mp4", "--flow", "raft", "--raft-weights", str(weights))
    assert_user_error(result, "x.pth", "--allow-pickle")
    assert not marker.exists() and snapshot(tmp_path) == before


def test_raft_pickle_with_code_is_refused_even_when_allowed(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    marker = tmp_path / "ran"
    weights = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(2), "p": Payload(marker)}, weights)
    before = snapshot(tmp_path)
    result = restyle(
        src,
        tmp_path / "out.mp4",
        "--flow",
        "raft",
        "--raft-weights",
        str(weights),
        "--allow-pickle",
    )
    assert_user_error(result, "x.pth")
    assert not marker.exists() and snapshot(tmp_path) == before


def test_raft_weights_that_are_not_raft(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    weights = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(2)}, weights)
    before = snapshot(tmp_path)
    result = restyle(
        src,
        tmp_path / "out.mp4",
        "--flow",
        "raft",
        "--raft-weights",
        str(weights),
        "--allow-pickle",
    )
    assert_user_error(result, "x.pth")
    assert snapshot(tmp_path) == before


def test_upscaler_pickle_needs_allow_pickle(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    marker = tmp_path / "ran"
    weights = tmp_path / "model.pth"
    torch.save({"p": Payload(marker)}, weights)
    before = snapshot(tmp_path)
    result = vidx("upscale", src, "-o", tmp_path / "out.mp4", "--upscaler", str(weights))
    assert_user_error(result, "model.pth", "--allow-pickle")
    assert not marker.exists() and snapshot(tmp_path) == before
