"""Shared test media, made on the fly with PyAV (nothing downloaded, nothing committed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

# One torch (OpenMP) thread unless the caller says otherwise, and OpenMP threads that sleep
# rather than spin while they wait, set before torch or numpy load: on a shared 2-core machine
# spinning OpenMP threads make the tiny models' renders 5-10x slower (a 36-frame diffusion
# job with the cores busy: 13 s on one thread, 87 s on two spinning, 22 s on two sleeping).
# Neither changes a result. Subprocesses the tests start inherit both. Tests that need more
# threads say so (vidx's ``threads`` option).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import av  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from click.testing import Result  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ``make test`` runs pytest on both cores: ``-n 2 --dist loadgroup`` (pytest-xdist) hands each of
# two worker processes one group of tests at a time. A group is a test module, so its module- and
# session-scoped fixtures (the tiny models, the rendered clips they compare against) are built
# once, on one worker, but the Ray tests are one group: they share one local Ray cluster
# (tests/vidx/scale/conftest.py), and on one worker the refusals of test_ray_addresses.py (``--ray
# auto`` finds no cluster) run before it starts, as they do on one core. The Ray group is the
# longest, so it goes first; the rest follow in the collection's order. test_carried.py's tests
# without Ray stay in their module's group, on the other worker, each worker building the
# fixtures its tests need. (xdist_group marks would say the same, but xdist 3.8 cannot read them
# under pytest 9.2.)
RAY_GROUP = "ray"
RAY_MODULES = (
    "tests/vidx/safety/test_ray_addresses.py",
    "tests/vidx/scale/test_ray_jobs.py",
    "tests/vidx/scale/test_shared_plan.py",
)
RAY_TESTS = {  # in modules of their own group: the tests on Ray
    "tests/vidx/scale/test_carried.py": (
        "test_two_ray_workers_carry_the_state_and_survive_a_kill",
        "test_shots_render_side_by_side_on_ray",
        "test_two_ray_workers_render_one_shot_side_by_side_in_two_passes",
    ),
}


def group_of(nodeid: str) -> str:
    """The group of the test ``nodeid``: the Ray group or its module."""
    module, _, test = nodeid.partition("::")
    on_ray = module in RAY_MODULES or test.split("[", 1)[0] in RAY_TESTS.get(module, ())
    return RAY_GROUP if on_ray else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # the workers' order (below), not the groups' sizes
    return Groups(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    stray = [
        item.nodeid
        for item in items
        if "ray_cluster" in getattr(item, "fixturenames", ()) and group_of(item.nodeid) != RAY_GROUP
    ]
    if stray:  # a second cluster on the other worker: test_ray_addresses.py would see it
        raise pytest.UsageError(f"tests on Ray outside tests/conftest.py's Ray group: {stray}")
    # in a worker --dist reads "no": xdist keeps what it was as ``option.loadgroup``
    if os.environ.get("PYTEST_XDIST_WORKER") and getattr(config.option, "loadgroup", False):
        items.sort(key=lambda item: group_of(item.nodeid) != RAY_GROUP)  # stable: first


@pytest.fixture(autouse=True)
def same_thread_counts() -> Iterator[None]:
    """vidx's ``threads`` option sets torch's and OpenCV's thread counts for the whole process:
    put them back after a test that set them, so the tests after it run as they would alone."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    if (torch.get_num_threads(), cv2.getNumThreads()) != before:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A textured frame that moves 2 px right per index: gradients plus a frame counter bar."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    xs = x - 2 * index
    r = 128 + 100 * np.sin(xs / 7.0) * np.cos(y / 11.0)
    g = 128 + 100 * np.sin((xs + y) / 13.0)
    b = (xs * 3 + y * 2) % 256
    img = np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)
    bar = min(width, 4 + index * 4)
    img[:4, :bar] = 255
    return img


def make_clip(
    path: Path,
    frames: int = 12,
    size: tuple[int, int] = (96, 64),
    *,
    fps: int = 24,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = False,
    audio_seconds: float | None = None,
    subtitles: Sequence[tuple[float, float, str]] = (),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    image: Callable[[int, int, int], np.ndarray] = pattern,
) -> Path:
    """Write a test clip. ``pts`` (in ``time_base``) makes it VFR; ``audio`` adds AAC (a tone
    lasting ``audio_seconds``, default the video's length); ``subtitles`` (start, end, text)
    adds a subrip subtitle stream (.mkv only)."""
    w, h = size
    tb = time_base or Fraction(1, fps)
    stamps = list(pts) if pts is not None else list(range(frames))
    container = av.open(str(path), "w")
    vs = container.add_stream(codec, rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
    vs.time_base = tb
    vs.codec_context.time_base = tb
    if rotation:
        vs.set_display_rotation(rotation)
    astream = None
    if audio:
        astream = container.add_stream("aac", rate=48000)
        astream.layout = "stereo"
    sub_in = None
    if subtitles:
        srt = path.with_suffix(".srt")
        srt.write_text(
            "".join(
                f"{i + 1}\n{_ts(a)} --> {_ts(b)}\n{text}\n\n"
                for i, (a, b, text) in enumerate(subtitles)
            )
        )
        sub_in = av.open(str(srt))
        sstream = container.add_stream_from_template(sub_in.streams.subtitles[0])
    for i, p in enumerate(stamps):
        frame = av.VideoFrame.from_ndarray(image(i, w, h), format="rgb24")
        frame.pts = p
        frame.time_base = tb
        for packet in vs.encode(frame):
            container.mux(packet)
    for packet in vs.encode(None):
        container.mux(packet)
    if astream is not None:
        seconds = audio_seconds if audio_seconds is not None else float((stamps[-1] + 1) * tb)
        total = int(seconds * 48000)
        t0 = 0
        while t0 < total:
            n = min(1024, total - t0)
            t = (np.arange(t0, t0 + n) / 48000.0).astype(np.float32)
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate = 48000
            af.pts = t0
            for packet in astream.encode(af):
                container.mux(packet)
            t0 += n
        for packet in astream.encode(None):
            container.mux(packet)
    if sub_in is not None:
        for packet in sub_in.demux(sub_in.streams.subtitles[0]):
            if packet.dts is None:
                continue
            packet.stream = sstream
            container.mux(packet)
        sub_in.close()
    container.close()
    return path


def _ts(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def video_timestamps(path: Path) -> list[float]:
    """Presentation times (seconds) of every decoded frame, in order."""
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def stream_duration(path: Path, kind: str) -> float:
    """Seconds covered by the packets of the first stream of ``kind`` (first pts to last end)."""
    with av.open(str(path)) as c:
        s = next(st for st in c.streams if st.type == kind)
        first = last = None
        for p in c.demux(s):
            if p.pts is None:
                continue
            a = float(p.pts * p.time_base)
            b = a + float((p.duration or 0) * p.time_base)
            first = a if first is None else min(first, a)
            last = b if last is None else max(last, b)
        return (last or 0.0) - (first or 0.0)


@pytest.fixture
def clip(tmp_path: Path) -> Callable[..., Path]:
    """``clip(name, **make_clip options)`` writes a clip into ``tmp_path``."""

    def make(name: str = "in.mp4", **kw: object) -> Path:
        return make_clip(tmp_path / name, **kw)  # type: ignore[arg-type]

    return make


REAL_CLIPS = {
    "cockatoo.mp4": ("python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images"),
    "realshort.mp4": ("python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images"),
    "vtest.avi": ("opencv-doc", "usr/share/doc/opencv-doc/examples/data"),
    "Megamind.avi": ("opencv-doc", "usr/share/doc/opencv-doc/examples/data"),
}
MEDIA_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "test-media"


def real_clip_path(name: str) -> Path | None:
    """A real clip from a Debian package (fetched with apt-get download + dpkg -x into
    ``.cache/test-media``, never committed); None when it cannot be had here. Safe to call from
    processes side by side (``make test``'s two pytest workers): one fetches while the others
    wait on a lock, and a clip appears under its name only once it is whole."""
    import fcntl
    import shutil
    import subprocess

    package, folder = REAL_CLIPS[name]
    target = MEDIA_CACHE / name
    if target.exists():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return None
    work = MEDIA_CACHE / f"_{package}"
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if target.exists():  # fetched while this process waited
            return target
        try:
            debs = list(work.glob(f"{package}_*.deb"))
            if not debs:
                subprocess.run(
                    ["apt-get", "download", package],
                    cwd=work,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                debs = list(work.glob(f"{package}_*.deb"))
            subprocess.run(
                ["dpkg", "-x", str(debs[0]), str(work / "x")],
                check=True,
                capture_output=True,
                timeout=300,
            )
            for clip_name, (pkg, sub) in REAL_CLIPS.items():
                src = work / "x" / sub / clip_name
                if pkg == package and src.exists():
                    part = work / f"{clip_name}.part"
                    shutil.copy(src, part)
                    os.replace(part, MEDIA_CACHE / clip_name)
            shutil.rmtree(work / "x", ignore_errors=True)
        except (subprocess.SubprocessError, OSError, IndexError):
            return None
    return target if target.exists() else None


@pytest.fixture
def real_clip() -> Callable[[str], Path]:
    """``real_clip("Megamind.avi")``: the path, or the test is skipped when it cannot be had."""

    def get(name: str) -> Path:
        path = real_clip_path(name)
        if path is None:
            pytest.skip(f"real clip {name} not available (apt-get download failed)")
        return path

    return get


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Stable Diffusion model (scripts/make_tiny_model.py, seeded), built once a
    session for the diffusion tests and the carried seams' (tests/vidx/scale/test_carried.py)."""
    from scripts.make_tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-sd") / "model")


def run_cli(*args: object) -> Result:
    """Run the ``vidx`` CLI in this process, every argument turned into a string: the one CLI
    runner of the test suite (``run_cli("upscale", src, "-o", out)``)."""
    from vidx.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def cli() -> Callable[..., Result]:
    """:func:`run_cli` as a fixture."""
    return run_cli
