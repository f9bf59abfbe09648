"""A local Ray instance (2 CPUs) shared by the scale tests, and their tiny job."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_clip

FRAMES, SEGMENT = 96, 24


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """Started once: vidx joins an instance that is already up and leaves it running."""
    ray = pytest.importorskip("ray", reason="Ray is the optional extra vidx[ray]")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def job_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 frames of 96x64 moving 2 px right per frame (tests.conftest.pattern), with audio."""
    return make_clip(tmp_path_factory.mktemp("scale") / "in.mp4", frames=FRAMES, audio=True)


def job_options(**extra: object) -> dict[str, object]:
    """An embedded-style restyle in 24-frame segments, one thread per worker, lossless: the
    frames vidx hands the encoder are the same however the job is spread, but libx264's lossy
    output of the same frames may differ from one encode to the next (docs/SCALING.md)."""
    return {
        "style": "3",
        "crf": 0,
        "segment_frames": SEGMENT,
        "analysis_size": 64,
        "threads_per_worker": 1,
        "overwrite": True,
        **extra,
    }
