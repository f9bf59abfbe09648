"""Per-stage throughput and peak memory (issue 13): upscalers, img2img, and the whole job.

Runs anywhere: on CUDA when there is a GPU (fp16 by default), else on the CPU (fp32). The
models of 1-3 have random weights and the real architectures, built here (nothing is
downloaded):

1. ``upscale``: Real-ESRGAN x4plus (RRDBNet, 23 blocks, 64 filters) and animevideov3
   (SRVGGNetCompact, 16 convolutions, 64 features), 1080p -> 4K through vidx's upscaler
   (tiling, tile batches, the device path and the final shrink as a job runs them).
2. ``img2img``: the SD1.5 layout (``scripts/make_tiny_model.py --size sd15``) at 512x512,
   1, 4 and 20 steps (toy: 1 and 2) at strength 1 (so every step runs), with full
   classifier-free guidance and, where the branch has it (``cfg`` option), residual CFG;
   every frame a keyframe, i.e. plain img2img through vidx's restyler.
3. ``job``: ``vidx.api.render`` of a 1080p clip restyled (4 steps, strength 0.6) and upscaled
   to 4K with the random x4plus, end to end (decode, analysis, restyle, upscale, encode).
4. ``dtype``: the embedded x4plus and animevideov3 (their real weights) in bf16 (CPU) or
   fp16 and bf16 (CUDA) against fp32 on a real photo: fps and PSNR to fp32.

Peak memory per stage: ``torch.cuda.max_memory_allocated`` on the GPU; on the CPU the peak
resident set size sampled every 10 ms during the stage. ``--toy`` shrinks everything (64 px
inputs, tiny configs, 1 frame, no warm-up) so the test suite runs it on the CPU. Prints a
table and writes JSON (``--out``). Usage:
``.venv/bin/python scripts/bench_gpu.py [--toy] [--frames 8] [--device auto] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import spandrel  # noqa: E402
import torch  # noqa: E402
from make_tiny_model import build_tiny_model  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from spandrel.architectures.Compact import Compact  # noqa: E402
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402

from tests.conftest import make_clip  # noqa: E402
from vidx.device import pick_device  # noqa: E402
from vidx.frame import FrameContext  # noqa: E402
from vidx.options import RestyleOptions  # noqa: E402
from vidx.restyle.diffusion import DiffusionRestyler, load_pipeline  # noqa: E402
from vidx.upscale.tiling import pick_tile  # noqa: E402
from vidx.upscale.user_model import SpandrelUpscaler, prepare_descriptor  # noqa: E402

STEPS = (1, 4, 20)
CFGS = ("full", "residual")


@dataclasses.dataclass(frozen=True)
class Setup:
    """Sizes of one run: the full figures or the toy ones the tests use."""

    source: tuple[int, int]  # (w, h) of the upscaler's and the job's input
    steps: tuple[int, ...]  # img2img step counts
    target: str  # the job's --size
    work: int  # img2img frame side
    model: str  # make_tiny_model size
    esrgan: dict  # RRDBNet arguments
    compact: dict  # SRVGGNetCompact arguments
    frames: int


FULL = Setup(
    (1920, 1080),
    STEPS,
    "4k",
    512,
    "sd15",
    dict(num_filters=64, num_blocks=23),
    dict(num_feat=64, num_conv=16),
    8,
)
TOY = Setup(
    (64, 64),
    (1, 2),
    "x2",
    64,
    "tiny",
    dict(num_filters=8, num_blocks=1),
    dict(num_feat=8, num_conv=2),
    1,
)


class PeakMemory:
    """Peak bytes during a ``with`` block: CUDA allocations, or the CPU's resident set."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0

    @contextmanager
    def measure(self) -> Iterator[None]:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            yield
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
            return
        stop = threading.Event()
        self.peak = rss()

        def sample() -> None:
            while not stop.wait(0.01):
                self.peak = max(self.peak, rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()
            self.peak = max(self.peak, rss())


def rss() -> int:
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(device: torch.device, frames: int, work: Callable[[], object]) -> dict:
    """fps and peak memory of ``work`` (which processes ``frames`` frames)."""
    memory = PeakMemory(device)
    with memory.measure():
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - start
    return {"frames": frames, "wall_s": wall, "fps": frames / wall, "peak_mib": memory.peak / 2**20}


def random_upscalers(setup: Setup, device: str, dtype: str) -> dict[str, SpandrelUpscaler]:
    """x4plus and animevideov3 layouts with seeded random weights, as vidx loads models."""
    nets = {
        "esrgan-x4plus": ESRGAN(scale=4, **setup.esrgan),
        "esrgan-anime": Compact(upscale=4, **setup.compact),
    }
    out = {}
    for name, net in nets.items():
        torch.manual_seed(0)
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.02)
        descriptor = spandrel.ModelLoader().load_from_state_dict(net.state_dict())
        assert isinstance(descriptor, spandrel.ImageModelDescriptor)
        descriptor = prepare_descriptor(descriptor, device, dtype, name)
        tile = pick_tile(descriptor, descriptor.device, descriptor.dtype)
        out[name] = SpandrelUpscaler(name, descriptor, tile=tile)
    return out


def bench_upscale(setup: Setup, args: argparse.Namespace, device: torch.device) -> list[dict]:
    w, h = setup.source
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rows = []
    for name, upscaler in random_upscalers(setup, args.device, args.dtype).items():
        if not args.toy:
            upscaler(frame, (2 * w, 2 * h))  # warm-up (cuDNN autotuning, allocations)
        figures = timed(
            device,
            setup.frames,
            lambda u=upscaler: [u(frame, (2 * w, 2 * h)) for _ in range(setup.frames)],
        )
        info = upscaler.describe()
        rows.append(
            {
                "stage": f"upscale {name}",
                "detail": f"{w}x{h}->{2 * w}x{2 * h} tile {info['tile']} batch {info['batch']} "
                f"{info['dtype']}",
                **figures,
            }
        )
    return rows


def has_cfg_option() -> bool:
    return "cfg" in RestyleOptions.names()


def bench_img2img(setup: Setup, args, device: torch.device, model: Path) -> list[dict]:
    side = setup.work
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(setup.frames)]
    pipe = load_pipeline(str(model), args.device, args.dtype)  # shared by every setting
    rows = []
    for cfg in CFGS:
        if cfg != "full" and not has_cfg_option():
            rows.append({"stage": f"img2img cfg {cfg}", "skipped": "no cfg option in this branch"})
            continue
        extra = {"cfg": cfg} if has_cfg_option() else {}
        for steps in setup.steps:
            opts = RestyleOptions().with_values(
                model=str(model),
                prompt="an oil painting",
                strength=1.0,
                steps=steps,
                work_size=side,
                cross_frame_attn=False,  # keyframes only: nothing to attend to
                **extra,
            )
            restyler = DiffusionRestyler(opts, pipe=pipe)
            if not args.toy:
                restyler(frames[0], FrameContext(0, frames[0], keyframe=True))  # warm-up
                restyler.reset()
                restyler.stats = type(restyler.stats)()

            def work(r: DiffusionRestyler = restyler) -> None:
                for i, f in enumerate(frames):
                    r(f, FrameContext(i, f, keyframe=True))

            figures = timed(device, setup.frames, work)
            calls = restyler.stats.unet_calls / max(1, setup.frames)
            rows.append(
                {
                    "stage": f"img2img {steps} step{'s' if steps > 1 else ''} cfg {cfg}",
                    "detail": f"{side}x{side}, {calls:.0f} UNet calls/frame",
                    **figures,
                }
            )
            del restyler
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def bench_job(setup: Setup, args, device: torch.device, model: Path, work: Path) -> dict:
    from skimage import data

    from scripts.make_sample import pan_zoom_roll
    from vidx.api import render

    photo = data.astronaut()
    count = setup.frames

    def camera(i: int, w: int, h: int) -> np.ndarray:
        return pan_zoom_roll(photo, i / max(1, count - 1), (w, h))

    clip = make_clip(work / "job.mp4", count, setup.source, image=camera)
    torch.manual_seed(0)
    net = ESRGAN(scale=4, **setup.esrgan)
    weights = work / "x4plus-random.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    values = dict(
        prompt="an oil painting",
        model=str(model),
        steps=setup.steps[-1] if args.toy else 4,
        strength=0.6,
        work_size=setup.work,
        upscaler=str(weights),
        size=setup.target,
        segment_frames=0,
        device=args.device,
        dtype=args.dtype,
        overwrite=True,
    )
    result: dict = {}

    def run() -> None:
        result["job"] = render(clip, work / "job-out.mp4", **values)

    figures = timed(device, count, run)
    timings = {k: round(v, 3) for k, v in vars(result["job"].timings).items()}
    w, h = setup.source
    return {
        "stage": "job restyle+upscale",
        "detail": f"{w}x{h} -> {setup.target}, {values['steps']} steps at strength 0.6",
        **figures,
        "timings_s": timings,
    }


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def bench_dtype(setup: Setup, args, device: torch.device) -> list[dict]:
    """The embedded upscalers (real weights) in each reduced precision the device offers
    against fp32 on a real photo: fps and PSNR to the fp32 output (>= 45 dB to count as
    equal quality). CPU: bf16; CUDA: fp16 and bf16."""
    from skimage import data

    from vidx.upscale.esrgan import load_esrgan

    side = 32 if args.toy else (128 if device.type == "cpu" else 512)
    photo = np.ascontiguousarray(data.astronaut()[:side, 100 : 100 + side])
    names = ("esrgan-anime",) if args.toy else ("esrgan", "esrgan-anime")
    reduced = ("bf16",) if device.type == "cpu" else ("fp16", "bf16")
    size = (side * 4, side * 4)
    rows = []
    for name in names:
        outputs: dict[str, np.ndarray] = {}
        for dtype in ("fp32", *reduced):
            upscaler = load_esrgan(name, device=str(device.type), dtype=dtype, tile=0)
            if not args.toy:
                upscaler(photo, size)  # warm-up

            def work(u: SpandrelUpscaler = upscaler, key: str = dtype, out=outputs) -> None:
                for _ in range(setup.frames):
                    out[key] = u(photo, size)

            figures = timed(device, setup.frames, work)
            quality = psnr(outputs[dtype], outputs["fp32"]) if dtype != "fp32" else float("inf")
            rows.append(
                {
                    "stage": f"dtype {name} {dtype}",
                    "detail": f"{side}x{side} photo x4, PSNR to fp32 {quality:.1f} dB",
                    "psnr_to_fp32_db": quality if dtype != "fp32" else None,
                    **figures,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="64 px inputs, tiny models, 1 frame")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--dtype", default="auto", help="auto (fp16 on CUDA), fp32, fp16, bf16")
    parser.add_argument("--stages", nargs="+", default=["upscale", "img2img", "job", "dtype"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "gpu.json")
    args = parser.parse_args(argv)
    setup = TOY if args.toy else FULL
    if args.frames:
        setup = dataclasses.replace(setup, frames=args.frames)
    device = pick_device(args.device)
    report: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load": os.getloadavg(),
        "toy": args.toy,
        "torch": torch.__version__,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = None
        if {"img2img", "job"} & set(args.stages):
            model = build_tiny_model(work / "model", size=setup.model)
        if "upscale" in args.stages:
            report["rows"] += bench_upscale(setup, args, device)
        if "img2img" in args.stages and model is not None:
            report["rows"] += bench_img2img(setup, args, device, model)
        if "job" in args.stages and model is not None:
            report["rows"].append(bench_job(setup, args, device, model, work))
        if "dtype" in args.stages:
            report["rows"] += bench_dtype(setup, args, device)
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return report


def print_table(report: dict) -> None:
    print(f"device {report['device']}, {report['cores']} cores, load {report['load'][0]:.2f}")
    print(f"{'stage':<32} {'fps':>8} {'peak MiB':>9}  detail")
    for row in report["rows"]:
        if "skipped" in row:
            print(f"{row['stage']:<32} {'-':>8} {'-':>9}  skipped: {row['skipped']}")
            continue
        print(f"{row['stage']:<32} {row['fps']:>8.3f} {row['peak_mib']:>9.0f}  {row['detail']}")


if __name__ == "__main__":
    main()
