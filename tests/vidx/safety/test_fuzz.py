"""Issue 9, fuzz: every command on 200 mutated copies of a tiny clip (64x48, 4 frames, AAC).

Mutations are seeded and deterministic (mutant ``i`` uses ``numpy.random.default_rng(i)``),
five kinds in turn: bit flips, byte-range overwrites, truncations at random points,
zeroed or swapped header regions, duplicated chunks. ``probe``, ``upscale`` and ``metrics SRC
MUTANT`` run on all 200; the slower ``restyle --style 3`` and ``preview`` on every fifth
(40 mutants, all five kinds). Each run is in-process (typer's runner) under ``signal.alarm``.

Every run must: exit 0 or 2; on 2, say exactly one error line; never print a traceback or an
"unexpected" error; leave the mutant as it was; leave nothing in its output folder but a
complete output and its sidecar from an exit-0 run; finish within 30 s.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import make_clip
from tests.vidx.safety.helpers import lines, vidx

COUNT = 200
SLOW_EVERY = 5  # restyle and preview on mutants 0, 5, 10, ...
HANG_S = 30
KINDS = ("bitflip", "overwrite", "truncate", "header", "duplicate")


class Hang(BaseException):
    """A run went past HANG_S (a BaseException, so no ``except Exception`` can swallow it)."""


def mutate(data: bytes, index: int) -> tuple[str, bytes]:
    rng = np.random.default_rng(index)
    kind = KINDS[index % len(KINDS)]
    b = bytearray(data)
    n = len(b)
    if kind == "bitflip":
        for _ in range(int(rng.integers(1, 33))):
            pos = int(rng.integers(0, n))
            b[pos] ^= 1 << int(rng.integers(0, 8))
    elif kind == "overwrite":
        start = int(rng.integers(0, n))
        length = int(rng.integers(1, 257))
        b[start : start + length] = rng.integers(0, 256, min(length, n - start), np.uint8).tobytes()
    elif kind == "truncate":
        b = b[: int(rng.integers(1, n))]
    elif kind == "header":
        size = int(rng.integers(8, 257))
        a = int(rng.integers(0, 512))
        if rng.random() < 0.5:  # zero a region near the start (ftyp, moov or its boxes)
            b[a : a + size] = bytes(len(b[a : a + size]))
        else:  # swap two regions of the first KiB
            c = int(rng.integers(0, 1024))
            first, second = bytes(b[a : a + size]), bytes(b[c : c + size])
            if len(first) == len(second):
                b[a : a + size], b[c : c + size] = second, first
    else:  # duplicate a chunk somewhere else
        start = int(rng.integers(0, n))
        chunk = bytes(b[start : start + int(rng.integers(16, 2049))])
        at = int(rng.integers(0, n))
        b[at:at] = chunk
    return kind, bytes(b)


def on_alarm(signum: int, frame: object) -> None:
    raise Hang


def complete_video(path: Path) -> bool:
    try:
        with av.open(str(path)) as c:
            return sum(1 for _ in c.decode(video=0)) > 0
    except av.FFmpegError:
        return False


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("fuzz") / "src.mp4", frames=4, size=(64, 48), audio=True
    )


def test_fuzz_every_command(source: Path, tmp_path: Path) -> None:
    data = source.read_bytes()
    commands: dict[str, Callable[[Path, Path], tuple[list[str], str | None]]] = {
        "probe": lambda m, o: (["probe", str(m)], None),
        "upscale": lambda m, o: (
            ["upscale", str(m), "-o", str(o / "out.mp4"), "--size", "x2"],
            "out.mp4",
        ),
        "metrics": lambda m, o: (["metrics", str(source), str(m)], None),
        "restyle": lambda m, o: (
            ["restyle", str(m), "-o", str(o / "out.mp4"), "--style", "3", "--work-size", "64"],
            "out.mp4",
        ),
        "preview": lambda m, o: (
            [
                "preview",
                str(m),
                "-o",
                str(o / "sheet.png"),
                "--style",
                "3",
                "--frames",
                "2",
                "--cell-width",
                "64",
            ],
            "sheet.png",
        ),
    }
    problems: list[str] = []
    tally: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    slowest = (0.0, "")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    try:
        for i in range(COUNT):
            kind, mutant_bytes = mutate(data, i)
            kinds[kind] += 1
            mutant = tmp_path / f"m{i:03d}.mp4"
            mutant.write_bytes(mutant_bytes)
            for name, make in commands.items():
                if name in ("restyle", "preview") and i % SLOW_EVERY:
                    continue
                folder = tmp_path / f"o{i:03d}_{name}"
                folder.mkdir()
                args, product = make(mutant, folder)
                case = f"mutant {i} ({kind}) {name}"
                t0 = time.monotonic()
                signal.alarm(HANG_S)
                try:
                    result = vidx(*args)
                except Hang:
                    problems.append(f"{case}: still running after {HANG_S} s")
                    continue
                finally:
                    signal.alarm(0)
                took = time.monotonic() - t0
                slowest = max(slowest, (took, case))
                tally[f"{name} exit {result.exit_code}"] += 1
                err = result.stderr
                errors = [line for line in lines(err) if line.startswith("vidx: error:")]
                if result.exit_code not in (0, 2):
                    problems.append(f"{case}: exit {result.exit_code}: {err.strip()[:300]}")
                if "Traceback" in err + result.stdout or "error: unexpected" in err:
                    problems.append(f"{case}: {err.strip()[:300]}")
                if result.exit_code == 2 and (len(errors) != 1 or lines(err)[-1] != errors[0]):
                    problems.append(f"{case}: not one error line: {err.strip()[:300]}")
                if mutant.read_bytes() != mutant_bytes:
                    problems.append(f"{case}: the input was changed")
                left = sorted(p.name for p in folder.iterdir())
                allowed = (
                    []
                    if result.exit_code or product is None
                    else sorted([product, f"{product}.json"])
                )
                if result.exit_code == 0 and product == "sheet.png":
                    allowed = [product] + [n for n in left if n == "sheet.png.json"]
                if left != allowed:
                    problems.append(
                        f"{case}: exit {result.exit_code} left {left} ({err.strip()[:200]})"
                    )
                elif (
                    result.exit_code == 0
                    and product == "out.mp4"
                    and not complete_video(folder / product)
                ):
                    problems.append(f"{case}: exit 0 but {product} does not decode")
            mutant.unlink()
    finally:
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - started
    took, case = slowest
    print(
        f"\nfuzz: {COUNT} mutants {dict(kinds)} in {elapsed:.0f} s, slowest {took:.1f} s ({case})"
    )
    print("fuzz:", dict(sorted(tally.items())))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
