"""Engine figures (issue: streaming engine): transcode overhead, memory vs clip length, 8K RSS.

1. Overhead: ``vidx upscale --size source`` against a minimal PyAV decode->encode loop with the
   same codec settings (libx264, same crf/preset/pix_fmt), on a real clip; runs alternate and
   the best of ``--repeats`` is kept, so the ratio is taken side by side.
2. Memory: peak RSS of ``vidx upscale --size source`` on a 600-frame and a 60-frame clip of the
   same size (each in a fresh process).
3. 8K: peak RSS and wall time of a short clip to ``--size 8k``.

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_io.py [--clip PATH] [--repeats 2] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import make_clip, real_clip_path  # noqa: E402

VIDX = [sys.executable, "-m", "vidx"]


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of ``cmd`` in a fresh child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024.0


def minimal_loop(src: Path, dst: Path, crf: str = "18", preset: str = "medium") -> None:
    """The baseline: decode, encode with the same settings, copy audio packets."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream(
            "libx264", rate=vin.average_rate, options={"crf": crf, "preset": preset}
        )
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.time_base = vin.time_base
        vout.codec_context.time_base = vin.time_base
        aout = {s.index: out.add_stream_from_template(s) for s in inp.streams.audio}
        for packet in inp.demux(vin, *inp.streams.audio):
            if packet.stream.index in aout:
                if packet.dts is None:
                    continue
                packet.stream = aout[packet.stream.index]
                out.mux(packet)
                continue
            for frame in packet.decode():
                frame.pict_type = av.video.frame.PictureType.NONE
                for p in vout.encode(frame):
                    out.mux(p)
        for p in vout.encode(None):
            out.mux(p)


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--clip",
        type=Path,
        help="real clip for the overhead run (default: cockatoo.mp4 from Debian's python3-imageio)",
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--size", default="640x360", help="frame size of the memory clips")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_io.json")
    args = ap.parse_args()
    results: dict = {"machine": machine()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = args.clip or real_clip_path("cockatoo.mp4")
        if clip is None:
            clip = make_clip(tmp / "synthetic.mp4", 240, (1280, 720), audio=True)
        base_t, vidx_t = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            minimal_loop(clip, tmp / "base.mp4")
            base_t.append(time.perf_counter() - t0)
            wall, _ = run_measured(
                [
                    *VIDX,
                    "upscale",
                    str(clip),
                    "-o",
                    str(tmp / "v.mp4"),
                    "--size",
                    "source",
                    "--crf",
                    "18",
                    "--preset",
                    "medium",
                    "--pix-fmt",
                    "yuv420p",  # as the baseline (the default now keeps a 4:4:4 source's chroma)
                    "--overwrite",
                ]
            )
            vidx_t.append(wall)
        ratio = min(vidx_t) / min(base_t)
        results["overhead"] = {
            "clip": clip.name,
            "baseline_s": min(base_t),
            "vidx_s": min(vidx_t),
            "ratio": ratio,
            "target": 1.15,
        }
        rows.append(
            (
                "transcode overhead (vidx / PyAV loop)",
                f"{min(vidx_t):.1f}s / {min(base_t):.1f}s",
                f"{ratio:.3f}x",
                "<= 1.15x",
            )
        )

        w, h = map(int, args.size.split("x"))
        rss = {}
        for n in (60, 600):
            src = make_clip(tmp / f"m{n}.mp4", n, (w, h), audio=True)
            _, rss[n] = run_measured(
                [
                    *VIDX,
                    "upscale",
                    str(src),
                    "-o",
                    str(tmp / f"o{n}.mp4"),
                    "--size",
                    "source",
                    "--preset",
                    "ultrafast",
                ]
            )
        growth = rss[600] / rss[60] - 1
        results["memory"] = {
            "size": args.size,
            "rss_60_mib": rss[60],
            "rss_600_mib": rss[600],
            "growth": growth,
            "target": 0.10,
        }
        rows.append(
            (
                f"peak RSS 600 vs 60 frames ({args.size})",
                f"{rss[600]:.0f} / {rss[60]:.0f} MiB",
                f"{growth * 100:+.1f}%",
                "<= +10%",
            )
        )

        sample = ROOT / "samples" / "astronaut-pan.mp4"
        wall, peak = run_measured(
            [
                *VIDX,
                "upscale",
                str(sample),
                "-o",
                str(tmp / "8k.mp4"),
                "--size",
                "8k",
                "--max-frames",
                "12",
            ]
        )
        results["8k"] = {
            "clip": sample.name,
            "frames": 12,
            "wall_s": wall,
            "rss_mib": peak,
            "target_mib": 6144,
        }
        rows.append(
            (
                "8K upscale, 12 frames (lanczos, x264 medium)",
                f"{wall:.1f}s",
                f"{peak:.0f} MiB",
                "< 6144 MiB",
            )
        )

    print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores")
    print(f"{'figure':48} {'measured':>22} {'result':>12} {'target':>12}")
    for name, measured, value, target in rows:
        print(f"{name:48} {measured:>22} {value:>12} {target:>12}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
