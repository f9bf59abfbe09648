"""Benchmark: does a prompt schedule keep the frames before a change, and pop at the change?

Usage: ``python scripts/bench_prompt_schedule.py [--sizes tiny mid trained] [--frames 24]
[--change 12] [--transitions 1 12] [--out PATH]``

The clip and its exact motion come from bench_restyle.py (skimage photo under a slow pan, zoom
and rotation; random-weight model from make_tiny_model.py). Per model size it renders the clip
with the first prompt alone, then with ``"0: PROMPT_A; CHANGE: PROMPT_B"`` for each transition
length (1 = a hard switch, for contrast). Reported: the lowest PSNR of frames 0..CHANGE-4
against the single-prompt run (done-when: >= 40 dB on frames 0-8 for a change at 12), the exact
warping error per pair (mean, worst pair, worst pair in the change window CHANGE..CHANGE+T) and
its ratio to the mean pair (done-when: <= 1.5), and the mean gradient energy (sharpness) of the
frames after the change next to the single-prompt run's, and the PSNR of those frames to the
single-prompt run (how far the new prompt moved them).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_restyle import SETUPS, clip_psnr, exact_errors, make_clip, make_contexts  # noqa: E402
from make_tiny_model import bench_model  # noqa: E402

import temporal  # noqa: E402
from vidx.options import RestyleOptions  # noqa: E402
from vidx.restyle.diffusion import DiffusionRestyler, load_pipeline  # noqa: E402

PROMPT_A = "a snowy street at night, oil painting"
PROMPT_B = "a summer street at noon, watercolour"


def sharpness(frames: list[np.ndarray]) -> float:
    return float(np.mean([temporal.gradient_energy(o) for o in frames]))


def render(pipe, opts: RestyleOptions, frames, ctxs) -> tuple[list[np.ndarray], float]:
    restyler = DiffusionRestyler(opts, pipe=pipe)
    start = time.perf_counter()
    outputs = [restyler(f, c) for f, c in zip(frames, ctxs, strict=True)]
    return outputs, time.perf_counter() - start


def bench_size(size: str, args, workdir: Path) -> dict:
    height, width, work = SETUPS[size]
    model = bench_model(workdir / size, size)
    pipe = load_pipeline(str(model), "cpu", "fp32")
    frames, flows = make_clip(args.frames, height, width)
    ctxs, _ = make_contexts(frames, 0)
    base = RestyleOptions().with_values(
        model=str(model), steps=args.steps, strength=0.5, work_size=work, seed=0
    )
    single, single_s = render(pipe, base.with_values(prompt=PROMPT_A), frames, ctxs)
    keep = args.change - 3  # frames 0..keep must equal the single-prompt run
    after = slice(args.change, None)
    row = {
        "size": size,
        "frames": len(frames),
        "change": args.change,
        "single": {
            "wall_s": single_s,
            "warp_error": exact_errors(single, flows),
            "sharpness_after": sharpness(single[after]),
        },
        "scheduled": [],
    }
    for transition in args.transitions:
        opts = base.with_values(
            prompt=None,
            prompt_schedule=f"0: {PROMPT_A}; {args.change}: {PROMPT_B}",
            prompt_transition=transition,
        )
        out, wall = render(pipe, opts, frames, ctxs)
        print(f"{size}: transition {transition} rendered in {wall:.0f} s", file=sys.stderr)
        err = exact_errors(out, flows)
        window = err["per_pair"][args.change - 1 : args.change + max(transition, 1)]
        psnrs = [
            clip_psnr([a], [b]) for a, b in zip(out[: keep + 1], single[: keep + 1], strict=True)
        ]
        row["scheduled"].append(
            {
                "transition": transition,
                "wall_s": wall,
                "psnr_min_before_db": min(psnrs),
                "psnr_after_db": clip_psnr(out[after], single[after]),  # how far the change moved
                "warp_error": err,
                "worst_in_change": max(window),
                "worst_in_change_over_mean": max(window) / err["mean"],
                "worst_over_mean": err["max"] / err["mean"],
                "sharpness_after": sharpness(out[after]),
            }
        )
    return row


def print_table(rows: list[dict]) -> None:
    head = (
        "size  T   PSNR0-k(dB)  warp mean  worst(change)  /mean  worst(all)/mean  sharp after"
        "  PSNR after(dB)"
    )
    print(head)
    for r in rows:
        s = r["single"]
        print(
            f"{r['size']:5} -   single run   {s['warp_error']['mean']:.4f}     "
            f"{'-':>13}  {'-':>5}  {s['warp_error']['max'] / s['warp_error']['mean']:15.2f}  "
            f"{s['sharpness_after']:.4f}"
        )
        for t in r["scheduled"]:
            psnr = "inf" if t["psnr_min_before_db"] > 200 else f"{t['psnr_min_before_db']:.1f}"
            print(
                f"{r['size']:5} {t['transition']:<3} {psnr:>11}  {t['warp_error']['mean']:.4f}     "
                f"{t['worst_in_change']:13.4f}  {t['worst_in_change_over_mean']:5.2f}  "
                f"{t['worst_over_mean']:15.2f}  {t['sharpness_after']:.4f}"
                f"  {t['psnr_after_db']:14.1f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny"], choices=["tiny", "mid", "trained"])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--change", type=int, default=12)
    parser.add_argument("--transitions", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="bench-results/prompt_schedule.json")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a busy box)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_size(s, args, Path(tmp)) for s in args.sizes]
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "args": vars(args), "rows": rows}
    out.write_text(json.dumps(meta, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
