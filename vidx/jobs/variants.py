"""``vidx variants``: several restyles of one clip in one pass, sharing decode and flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidx.jobs.jobfile import Job
from vidx.jobs.run import Target
from vidx.options import JobOptions


def variant_targets(job: Job, outdir: Path, overrides: dict[str, Any]) -> list[Target]:
    """One :class:`Target` per variant: ``OUTDIR/NAME.mp4`` (``.mov`` for prores), its options
    the job's ``[shared]`` table, then its own, then ``overrides`` (command-line options such
    as ``overwrite`` or ``device``, which win)."""
    targets = []
    for name in job.variants:
        options = JobOptions.from_flat({**job.settings(name), **overrides})
        ext = ".mov" if options.encode.codec == "prores" else ".mp4"
        targets.append(Target(outdir / f"{name}{ext}", options, name=name))
    return targets
