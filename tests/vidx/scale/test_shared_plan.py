"""Local and Ray runs share one segment planner (issue 24): the same job gets the same plan
from :func:`vidx.jobs.segment_plan.plan_job`, whichever executor renders it."""

from __future__ import annotations

import vidx
from tests.vidx.scale.conftest import job_options
from tests.vidx.test_segment_plan import spy
from vidx.api import job_plan


def test_local_and_ray_run_the_same_plan(ray_cluster, job_clip, tmp_path, monkeypatch) -> None:
    made = spy(monkeypatch)
    local, on_ray = tmp_path / "local.mp4", tmp_path / "ray.mp4"
    vidx.render(job_clip, local, **job_options())  # type: ignore[arg-type]
    vidx.render(job_clip, on_ray, **job_options(workers=2))  # type: ignore[arg-type]
    assert len(made) == 2 and made[0] == made[1]
    assert len(made[0].segments) == 4 and not made[0].carried
    shown = job_plan(job_clip, tmp_path / "shown.mp4", **job_options(workers=2))
    assert shown.segments == made[0] and shown.ray == "2 local workers"
