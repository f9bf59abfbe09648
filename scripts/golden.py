"""A golden set: a handful of jobs whose frames and sidecar parameters must not change when
the code is reorganised (issue 24). Each job encodes losslessly (or writes PNG), so a frame's
hash is the pixels the pipeline made, not the encoder's run-to-run noise.

    python scripts/golden.py record golden.json      # before a change
    python scripts/golden.py check golden.json       # after: a table, exit 1 on any difference

The jobs: the embedded style network; diffusion with its defaults (the tiny random model built
from its config, so no download); the same diffusion job in carried segments; a PNG sequence in
and out; a still picture; the sample's variants job file. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import vidx  # noqa: E402
from vidx import api  # noqa: E402  (vidx.jobs.variants is shadowed by its module once loaded)

ROCKET = ROOT / "samples" / "rocket-tilt.mp4"
ASTRONAUT = ROOT / "samples" / "astronaut-pan.mp4"
LOSSLESS = {"crf": 0, "overwrite": True}


def frame_hashes(path: Path) -> list[str]:
    """SHA-256 of each decoded frame (RGB, 8 bits) of a video, a still or a sequence folder."""
    if path.is_dir():
        files = sorted(path.glob("*.png"))
    else:
        files = [path]
    hashes = []
    for file in files:
        with av.open(str(file)) as container:
            for frame in container.decode(video=0):
                rgb = frame.to_ndarray(format="rgb24")
                hashes.append(hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest())
    return hashes


def sidecar(path: Path) -> dict:
    """The sidecar's ``params`` and ``restyle`` description (what decided the pixels)."""
    side = path.with_name(path.name + ".json") if not path.is_dir() else None
    if side is None or not side.is_file():
        return {}
    data = json.loads(side.read_text())
    return {"params": data.get("params"), "restyle": data.get("restyle")}


def jobs(work: Path, model: Path) -> dict[str, Callable[[], list[Path]]]:
    diffusion = {"model": str(model), "prompt": "an oil painting", "steps": 4, "work_size": 64}
    diffusion |= {"analysis_size": 64, "max_frames": 10, **LOSSLESS}
    frames = work / "frames"

    def style() -> list[Path]:
        out = work / "style.mp4"
        vidx.render(ROCKET, out, style="3", max_frames=16, segment_frames=0, **LOSSLESS)
        return [out]

    def diffusion_defaults() -> list[Path]:
        out = work / "diffusion.mp4"
        vidx.render(ROCKET, out, segment_frames=0, **diffusion)
        return [out]

    def diffusion_carried() -> list[Path]:
        out = work / "carried.mp4"
        vidx.render(ROCKET, out, segment_frames=4, **diffusion)
        return [out]

    def sequence() -> list[Path]:
        frames.mkdir(exist_ok=True)
        vidx.render(ROCKET, frames / "%04d.png", max_frames=6, overwrite=True)
        out = work / "seq-out"
        out.mkdir(exist_ok=True)
        vidx.render(frames / "%04d.png", out / "%04d.png", style="12", fps="24", overwrite=True)
        return [out]

    def still() -> list[Path]:
        out = work / "still.png"
        vidx.render(frames / "0001.png", out, style="5", size="x2", overwrite=True)
        return [out]

    def variants() -> list[Path]:
        out = work / "variants"
        api.variants(ASTRONAUT, ROOT / "samples" / "seasons.toml", out, max_frames=8, **LOSSLESS)
        return sorted(out.glob("*.mp4"))

    return {
        "style": style,
        "diffusion": diffusion_defaults,
        "carried": diffusion_carried,
        "sequence": sequence,
        "still": still,
        "variants": variants,
    }


def record_all() -> dict[str, dict]:
    from scripts.make_tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="vidx-golden-"))
    try:
        model = build_tiny_model(work / "tiny-sd")
        result = {}
        for name, job in jobs(work, model).items():
            paths = job()
            result[name] = {
                p.name: {"frames": frame_hashes(p), **sidecar(p)} for p in paths
            }  # fmt: skip
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def differences(old: dict, new: dict) -> dict[str, list[str]]:
    """Per job, what differs: a frame, a sidecar field, a missing output."""
    found: dict[str, list[str]] = {}
    for job in sorted(set(old) | set(new)):
        a, b = old.get(job, {}), new.get(job, {})
        diffs = []
        for out in sorted(set(a) | set(b)):
            if out not in a or out not in b:
                diffs.append(f"{out}: only in one run")
                continue
            fa, fb = a[out]["frames"], b[out]["frames"]
            bad = [i for i, (x, y) in enumerate(zip(fa, fb, strict=False)) if x != y]
            if len(fa) != len(fb) or bad:
                diffs.append(f"{out}: frames {bad[:5]} of {len(fa)}/{len(fb)} differ")
            for key in ("params", "restyle"):
                if _volatile(a[out].get(key)) != _volatile(b[out].get(key)):
                    diffs.append(f"{out}: sidecar {key} differs")
        found[job] = diffs
    return found


def _volatile(value: object) -> object:
    """Paths under the run's temporary folder differ between runs: compared by name."""
    if isinstance(value, dict):
        return {k: _volatile(v) for k, v in value.items() if k != "timings_s"}
    if isinstance(value, list):
        return [_volatile(v) for v in value]
    if isinstance(value, str) and "vidx-golden-" in value:
        return Path(value).name
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["record", "check"])
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    new = record_all()
    if args.mode == "record":
        args.file.write_text(json.dumps(new, indent=1))
        for job, outs in new.items():
            print(f"{job:<10} {sum(len(o['frames']) for o in outs.values()):>4} frames recorded")
        return 0
    diffs = differences(json.loads(args.file.read_text()), new)
    print(f"{'job':<10} {'outputs':>7}  result")
    for job, found in diffs.items():
        print(f"{job:<10} {len(new.get(job, {})):>7}  {'same' if not found else '; '.join(found)}")
    out = args.file.with_suffix(".check.json")
    out.write_text(json.dumps(diffs, indent=1))
    return 1 if any(diffs.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
