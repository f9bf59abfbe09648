"""Whether one job, rendered several times in one process, hands the encoder the same frames and
gets the same bitstream back: the evidence behind docs/SCALING.md, "Determinism" (issue 15).

The job is the scale tests' one (96 frames of 96x64 moving 2 px per frame, embedded style 3 in
24-frame segments). Every YUV frame handed to libx264 is hashed (the bytes of each plane within
the picture width, with its pts) by a reformatter that stands in for the writer's own; each
run's video packets and decoded frames are compared with the first run's. Run at the default
``--crf`` and at ``--crf 0`` (lossless) side by side.

Prints a table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/check_encode_repeatability.py [--runs 6] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
from av.video.reformatter import VideoReformatter  # noqa: E402

import vidx  # noqa: E402
import vidx.io.writer  # noqa: E402
from tests.conftest import make_clip  # noqa: E402

SEEN: list[tuple[int | None, str]] = []  # (pts, hash) of each frame handed to the encoder


class HashingReformatter:
    """The writer's RGB -> YUV conversion, noting a hash of each frame it makes."""

    def __init__(self) -> None:
        self.inner = VideoReformatter()

    def reformat(self, frame, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = self.inner.reformat(frame, *args, **kwargs)
        h = hashlib.sha256()
        for plane in out.planes:
            rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            h.update(rows[:, : plane.width].tobytes())  # 8-bit yuv420p: one byte a sample
        SEEN.append((frame.pts, h.hexdigest()))
        return out


def packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    worst = max(np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True))
    return float("inf") if worst == 0 else float(10 * np.log10(255**2 / worst))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "encode_repeat.json"))
    args = parser.parse_args(argv)
    vidx.io.writer.VideoReformatter = HashingReformatter  # type: ignore[misc]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "in.mp4", frames=96)
        for crf in (None, 0):
            name = "default crf" if crf is None else f"crf {crf}"
            runs = []
            for i in range(args.runs):
                SEEN.clear()
                out = folder / f"crf{crf}-{i}.mp4"
                extra = {} if crf is None else {"crf": crf}
                vidx.render(
                    clip, out, style="3", segment_frames=24, analysis_size=64, overwrite=True,
                    **extra,  # type: ignore[arg-type]
                )  # fmt: skip
                runs.append((list(SEEN), packets(out), frames(out)))
            first = runs[0]
            results[name] = {
                "runs": args.runs,
                "same_encoder_input": sum(r[0] == first[0] for r in runs[1:]),
                "same_packets": sum(r[1] == first[1] for r in runs[1:]),
                "same_frames": sum(
                    all(np.array_equal(x, y) for x, y in zip(r[2], first[2], strict=True))
                    for r in runs[1:]
                ),
                "worst_psnr_db": min(psnr(r[2], first[2]) for r in runs[1:]),
            }
    print(f"{args.runs} runs of one job in one process, each against the first")
    head = f"{'encode':12} {'same input':>11} {'same packets':>13} {'same frames':>12}"
    print(f"{head} {'PSNR min':>9}")
    for name, row in results.items():
        n = row["runs"] - 1
        print(
            f"{name:12} {row['same_encoder_input']:>9}/{n} {row['same_packets']:>11}/{n} "
            f"{row['same_frames']:>10}/{n} {row['worst_psnr_db']:>9.1f}"
        )
    data = {"av": av.__version__, "libavcodec": av.library_versions["libavcodec"], **results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
