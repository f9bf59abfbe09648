"""``vidx variants``: several restyles of one clip in one pass, sharing decode and flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidx.jobs.jobfile import Job
from vidx.jobs.run import Target
from vidx.options import JobOptions


def variant_options(job: Job, overrides: dict[str, Any]) -> dict[str, JobOptions]:
    """Each variant's options: the job's ``[shared]`` table, then its own, then ``overrides``
    (command-line options such as ``overwrite`` or ``device``, which win)."""
    return {
        name: JobOptions.from_flat({**job.settings(name), **overrides}) for name in job.variants
    }


def variant_targets(job: Job, outdir: Path, overrides: dict[str, Any]) -> list[Target]:
    """One :class:`Target` per variant: ``OUTDIR/NAME.mp4`` (``.mov`` for prores), with its
    :func:`variant_options`."""
    targets = []
    for name, options in variant_options(job, overrides).items():
        ext = ".mov" if options.encode.codec == "prores" else ".mp4"
        targets.append(Target(outdir / f"{name}{ext}", options, name=name))
    return targets
