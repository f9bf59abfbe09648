"""The printable segment plan (``--plan``, ``-v``): what :func:`vidx.jobs.segment_plan.plan_job`
decides is what a job runs, and ``--plan`` renders nothing (issue 24)."""

from __future__ import annotations

from pathlib import Path

import pytest

import vidx
from tests.conftest import run_cli
from vidx.api import job_plan
from vidx.errors import OptionError
from vidx.jobs import segments
from vidx.jobs.segment_plan import SegmentPlan
from vidx.jobs.segments import parts_dir


def spy(monkeypatch: pytest.MonkeyPatch) -> list[SegmentPlan]:
    """Every plan the one segment planner makes from now on."""
    made: list[SegmentPlan] = []
    planner = segments.plan_job

    def recording(*args: object) -> SegmentPlan:
        made.append(planner(*args))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(segments, "plan_job", recording)
    return made


def test_plan_prints_the_cut_and_renders_nothing(clip, tmp_path: Path) -> None:
    src, out = clip(frames=30), tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out, "--segment-frames", "8", "--plan")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"plan: {src} -> {out}: 4 segments, 30 frames"
    assert "  independent: each segment starts fresh (no temporal state)" in lines
    assert "  segment 0: frames 0-7 (8), 0.000-0.333 s, starts fresh" in lines
    assert lines[-1].startswith("  segment 3: frames 24-29 (6), 1.000-")
    assert "  segment 1: frames 8-15 (8), 0.333-0.667 s, starts fresh" in lines
    assert not out.exists() and not parts_dir(out).exists()
    assert list(tmp_path.iterdir()) == [src]


def test_plan_of_a_job_in_one_piece(clip, tmp_path: Path) -> None:
    src, out = clip(frames=6), tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out, "--segment-frames", "0", "--plan")
    assert result.exit_code == 0, result.output
    assert "one piece (--segment-frames 0), in this process" in result.output
    assert not out.exists()


def test_plan_is_what_the_job_runs(clip, tmp_path: Path, monkeypatch) -> None:
    """A short clip with no model is cut finer so that two encoders run side by side: the
    plan says so, and the job runs that very plan."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    src, out = clip(frames=20), tmp_path / "out.mp4"
    shown = job_plan(src, out, size="x2").segments
    assert shown is not None and shown.side_by_side == 2
    assert [(s.first, s.frames) for s in shown.segments] == [(0, 12), (12, 8)]
    made = spy(monkeypatch)
    vidx.render(src, out, size="x2")
    assert made == [shown]


def test_render_refuses_a_plan_only_job(clip, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="plan only"):
        vidx.render(clip(frames=4), tmp_path / "out.mp4", plan=True)
    assert not (tmp_path / "out.mp4").exists()


def test_plan_is_one_job(clip, tmp_path: Path) -> None:
    result = run_cli("upscale", clip("a.mp4"), clip("b.mp4"), "-o", f"{tmp_path}/", "--plan")
    assert result.exit_code == 2 and "one input and one output" in result.output


def test_verbose_shows_the_plan_before_the_job_runs(clip, tmp_path: Path, monkeypatch) -> None:
    from vidx import cli

    monkeypatch.setitem(cli.VERBOSE, "on", True)
    src, out = clip(frames=10), tmp_path / "out.mp4"
    result = run_cli("upscale", src, "-o", out, "--segment-frames", "4")
    assert result.exit_code == 0, result.output
    assert f"plan: {src} -> {out}: 3 segments, 10 frames" in result.output
    assert out.exists()
