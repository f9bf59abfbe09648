"""One reuse engine for the restyle and the tiled refine: shared state and steps, own seeds,
x̂0 fusion in the refine, and no classifier-free guidance for guidance-embedding UNets."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

import temporal
from tests.vidx.restyle.diffusion.conftest import restyle_options
from vidx.options import RestyleOptions
from vidx.restyle.diffusion import DiffusionRefiner, DiffusionRestyler
from vidx.restyle.diffusion.engine import REFINE_SEEDS, RESTYLE_SEEDS, ReuseEngine

PACKAGE = Path(__file__).resolve().parents[4] / "vidx" / "restyle" / "diffusion"


def opts(model, **kw) -> RestyleOptions:
    base = dict(model=str(model), prompt="detailed", steps=8, guidance=1.0, work_size=64, seed=1)
    return restyle_options(**{**base, **kw})


def refine_clip(pipe, options, frames, ctxs):
    r = DiffusionRefiner(options, pipe=pipe, strength=0.5, reuse_strength=0.25, tile=64)
    return r, [r(f, c) for f, c in zip(frames, ctxs, strict=True)]


def test_restyle_and_refine_share_one_engine_with_their_own_seeds(tiny_pipe, tiny_model_dir):
    restyler = DiffusionRestyler(opts(tiny_model_dir), pipe=tiny_pipe)
    refiner = DiffusionRefiner(opts(tiny_model_dir), pipe=tiny_pipe)
    assert isinstance(restyler._engine, ReuseEngine) and isinstance(refiner._engine, ReuseEngine)
    assert restyler._engine.seeds == RESTYLE_SEEDS and refiner._engine.seeds == REFINE_SEEDS
    assert len({*dataclasses.astuple(RESTYLE_SEEDS), *dataclasses.astuple(REFINE_SEEDS)}) == 4
    bare = re.compile(r"seed\s*\+\s*\d")  # offsets are named constants (reuse.py)
    offenders = [
        f"{p.name}: {line.strip()}"
        for p in PACKAGE.glob("*.py")
        for line in p.read_text().splitlines()
        if bare.search(line) and "``" not in line  # (prose quoting the old form is fine)
    ]
    assert offenders == []


def test_refine_fuses_x0_toward_the_previous_refined_frame(tiny_pipe, tiny_model_dir, clip):
    frames, ctxs = clip[0][:4], clip[1][:4]
    r, fused = refine_clip(tiny_pipe, opts(tiny_model_dir), frames, ctxs)
    plan = r._engine.prepare(
        r.pipe, r._engine.prev_latent, ctxs[3], strength=0.5, reuse_strength=0.25
    )
    assert plan.reuse and plan.x0_fusion is not None and plan.pull is None
    assert plan.x0_fusion.steps == 1  # half of the 2 steps a reused frame runs
    _, unfused = refine_clip(tiny_pipe, opts(tiny_model_dir, fusion_weight=0.0), frames, ctxs)
    assert np.array_equal(fused[0], unfused[0])  # the first frame has nothing to fuse with
    assert not np.array_equal(fused[2], unfused[2])
    steady, loose = temporal.warp_error(frames, fused), temporal.warp_error(frames, unfused)
    assert steady < loose, (steady, loose)


def test_guidance_embedding_unets_get_no_cfg_in_the_refine_either(tiny_lcm_dir):
    from vidx.restyle.diffusion import load_pipeline

    pipe = load_pipeline(str(tiny_lcm_dir), "cpu", "fp32")
    frame = np.full((64, 64, 3), 120, np.uint8)
    for lcm_cfg, cfg in ((False, False), (True, True)):
        r = DiffusionRefiner(opts(tiny_lcm_dir, guidance=7.5, lcm_cfg=lcm_cfg), pipe=pipe, tile=64)
        r(frame)
        assert r._cond is not None and r._cond.cfg is cfg
        assert r._cond.timestep_cond is not None  # guidance through the embedding
