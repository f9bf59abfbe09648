"""``vidx variants``: several restyles of one clip in one pass, sharing decode and flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidx.analysis import AnalysisOptions
from vidx.compare import check_mode
from vidx.io.reader import Trim
from vidx.io.writer import EncodeSettings
from vidx.jobfile import RESTYLE_KEYS, Job
from vidx.pipeline import Output
from vidx.restyle.factory import RestyleSpec, make_restyler, with_refine
from vidx.sizes import parse_size
from vidx.upscale.base import Upscaler
from vidx.upscale.registry import make_upscaler


def plan_variants(
    job: Job, outdir: Path, *, device: str | None = None
) -> tuple[list[Output], AnalysisOptions, Trim]:
    """Outputs (``OUTDIR/NAME.mp4``, or ``.mov`` for prores), the shared analysis and trim.

    Every setting is checked before any model loads; an upscaler named by several variants is
    loaded once and shared.
    """
    shared = job.shared
    dev = device or shared.get("device", "auto")
    dtype = shared.get("dtype", "auto")
    trim = Trim(shared.get("start", 0.0), shared.get("duration"), shared.get("max_frames"))
    specs, encodes = {}, {}
    for name in job.variants:
        s = job.settings(name)
        restyle = {k: v for k, v in s.items() if k in RESTYLE_KEYS}
        specs[name] = RestyleSpec(device=dev, dtype=dtype).with_values(restyle).check()
        encodes[name] = EncodeSettings(
            s.get("codec", "h264"), s.get("crf"), s.get("preset"), s.get("pix_fmt")
        )
        parse_size(s.get("size", "source"))
        check_mode(s.get("compare"))
    temporal = any(spec.temporal for spec in specs.values())
    analysis = AnalysisOptions(
        enabled=temporal,
        flow_method=shared.get("flow", "dis"),
        flow_preset=shared.get("flow_preset", "medium"),
        analysis_size=shared.get("analysis_size", 640),
        keyframe_interval=shared.get("keyframe_interval", 30),
        scene_cuts=shared.get("scene_cuts", True),
        raft_weights=shared.get("raft_weights"),
    )
    upscalers: dict[tuple[Any, ...], Upscaler] = {}
    outputs = []
    for name, spec in specs.items():
        s = job.settings(name)
        key = (s.get("upscaler", "lanczos"), s.get("tile"), spec.allow_pickle)
        if key not in upscalers:
            upscalers[key] = make_upscaler(
                key[0], device=dev, dtype=dtype, tile=key[1], allow_pickle=key[2]
            )
        restyler = make_restyler(spec)
        ext = ".mov" if encodes[name].codec == "prores" else ".mp4"
        outputs.append(
            Output(
                outdir / f"{name}{ext}",
                with_refine(upscalers[key], spec, restyler),
                parse_size(s.get("size", "source")),
                s.get("fit", "contain"),
                encodes[name],
                restyler,
                name=name,
                compare=s.get("compare"),
            )
        )
    return outputs, analysis, trim
