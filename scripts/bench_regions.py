"""Clips with regions for scripts/bench_restyle.py ``--clip``, and its per-region figures.

* ``subject`` / ``subject-deform``: scripts/subject_clip.py (a subject that moves and turns, or
  also bends, over a panning photo): exact flow, exact labels subject / uncovered / entering /
  background, and the exact flow trusted off the uncovered trail, the entering strip and the
  subject's soft edge.
* ``vtest``, ``cockatoo``, ``megamind``: real footage (``REAL_CLIPS``, fetched by the tests
  into ``.cache/test-media/`` from Debian's opencv-doc and python3-imageio): people walking past
  a still camera; a cockatoo turning and bobbing its head before a hand-held camera; an
  animated woman talking (from its second frame: the first is black). Resized to the bench
  frame size; DIS flow of the source, trusted where ``temporal.consistency_mask`` says so, and
  the regions of ``temporal.region_labels`` (what moves against the camera's motion) with
  ``moving`` = what moved within the last 6 frames (``temporal.moved_within``), the region the
  issue's real-footage figure uses.

Per region (``temporal.RegionMeter``): warping error of the temporal output and of the per-frame
reference with that flow (mean, worst pair, ratio temporal / per-frame), detail retention of the
temporal output over the per-frame one (min and mean over frames), the share of the frame and
the frames used (a region under 0.2 % of a frame is skipped in that frame). And by layer
(``layer_figures``): the detail a region keeps split by the propagation layer that shows each
pixel (``temporal.Propagator.shown_by``), so a figure says which layer loses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import temporal
from scripts.subject_clip import subject_clip
from temporal.motion_regions import MIN_SHARE

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / ".cache" / "test-media"
REAL_CLIPS = {  # name: (file in MEDIA, first frame)
    "vtest": ("vtest.avi", 0),
    "cockatoo": ("cockatoo.mp4", 0),
    "megamind": ("Megamind.avi", 1),
}
CLIPS = ("photo", "subject", "subject-deform", *REAL_CLIPS)


@dataclass
class RegionClip:
    """Frames, the backward flow of each pair (entry 0 None), per frame the regions and the
    trusted mask (None for frame 0), and whether the flow is exact (else DIS)."""

    frames: list[np.ndarray]
    flows: list[np.ndarray | None]
    regions: list[dict[str, np.ndarray] | None]
    trusted: list[np.ndarray | None]
    exact: bool


def read_real(name: str, n: int, height: int, width: int) -> list[np.ndarray]:
    """``n`` frames of the real clip ``name`` (``REAL_CLIPS``) as RGB, resized (area) to
    ``height x width``."""
    file, first = REAL_CLIPS[name]
    path = MEDIA / file
    if not path.is_file():
        raise SystemExit(
            f"--clip {name} needs {path}; run the tests once (tests/conftest.py "
            "real_clip_path fetches it from Debian) or copy it there"
        )
    import av

    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index < first:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
            if len(frames) == n:
                break
    if len(frames) < 2:
        raise SystemExit(f"{path} gave {len(frames)} frames; the bench needs at least 2")
    return frames


def real_clip(name: str, n: int, height: int, width: int) -> RegionClip:
    frames = read_real(name, n, height, width)
    clip = RegionClip(frames, [None], [None], [None], exact=False)
    labels, moving = [], []
    for t in range(1, len(frames)):
        back, fwd = temporal.source_flows(frames[t - 1], frames[t])
        clip.flows.append(back)
        clip.trusted.append(temporal.consistency_mask(back, fwd))
        labels.append(temporal.region_labels(back, fwd))
        moving.append(labels[-1]["moving"])
    recent = temporal.moved_within(moving)  # the last 6 frames
    clip.regions += [temporal.with_moving(lab, m) for lab, m in zip(labels, recent, strict=True)]
    return clip


def load_clip(name: str, n: int, height: int, width: int) -> RegionClip:
    """The ``--clip`` clip (not ``photo``: that one is bench_restyle.make_clip)."""
    if name in REAL_CLIPS:
        return real_clip(name, n, height, width)
    if name not in ("subject", "subject-deform"):
        raise SystemExit(f"--clip must be one of {CLIPS}, got {name!r}")
    c = subject_clip(n, height, width, deform=name == "subject-deform")
    return RegionClip(c.frames, c.flows, c.regions, c.trusted, exact=True)


def region_figures(
    outputs: list[np.ndarray], reference: list[np.ndarray], clip: RegionClip
) -> dict[str, dict]:
    """Per-region summary (``temporal.RegionMeter``) of the temporal ``outputs`` against the
    per-frame ``reference``, with the clip's flow, trusted masks and regions."""
    meter = temporal.RegionMeter()
    for t in range(1, len(outputs)):
        regions, flow, trusted = clip.regions[t], clip.flows[t], clip.trusted[t]
        if regions is None or flow is None:
            continue
        ours = temporal.region_warp_errors(
            outputs[t - 1], outputs[t], flow, regions, trusted=trusted
        )
        theirs = temporal.region_warp_errors(
            reference[t - 1], reference[t], flow, regions, trusted=trusted
        )
        meter.add(
            t,
            temporal.region_shares(regions),
            errors=ours,
            reference_errors=theirs,
            detail=temporal.region_detail_retention(outputs[t], reference[t], regions),
        )
    return meter.summary()


def _fmt(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or a dash as wide when there is no value."""
    if value is not None:
        return format(value, spec)
    return "-".rjust(int(spec.rstrip("df").split(".")[0]))


def print_regions(regions: dict[str, dict]) -> None:
    """Rows of the bench table: one per region."""
    print(
        f"{'':6} {'region':10} {'share':>6} {'pairs':>5} {'warp x':>7} {'worst':>9} "
        f"{'@pair':>5} {'DR min':>7} {'DR mean':>7} {'@frame':>6}"
    )
    for name, r in regions.items():
        print(
            f"{'':6} {name:10} {r['share']:6.3f} {r['pairs']:5d} "
            f"{_fmt(r['warp_error_ratio'], '7.2f')} {_fmt(r['warp_error_max'], '9.5f')} "
            f"{_fmt(r['worst_pair'], '5d')} {_fmt(r['detail_retention_min'], '7.3f')} "
            f"{_fmt(r['detail_retention_mean'], '7.3f')} "
            f"{_fmt(r['detail_retention_worst_frame'], '6d')}"
        )


LAYER_REGIONS = ("subject", "moving", "uncovered")  # the regions split by layer
LAYERS = ("anchor", "patch", "previous", "render", "filler")  # temporal.Propagator.shown_by
MIN_LAYER_PX = 30  # a layer showing fewer pixels of a region in a frame is not scored there


def layer_figures(
    outputs: list[np.ndarray],
    reference: list[np.ndarray],
    clip: RegionClip,
    shown_by: list[dict[str, np.ndarray]],
) -> dict[str, dict]:
    """Per region of ``LAYER_REGIONS`` and per layer that shows its pixels (``shown_by[t]``:
    ``temporal.Propagator.shown_by`` of frame t, a pixel going to the layer with more than half
    its weight): the share of the region that layer shows (mean over the frames scored, 0 where
    it shows none), and the detail retention of the temporal output over the per-frame one on
    those pixels (min and mean over the frames where it shows at least ``MIN_LAYER_PX`` of
    them), keyed ``region/layer``, regions and layers in order."""
    scored: dict[str, int] = {}
    shares: dict[str, float] = {}
    detail: dict[str, list[float]] = {}
    for t in range(1, len(outputs)):
        regions = clip.regions[t]
        if regions is None or not shown_by[t]:
            continue
        h, w = outputs[t].shape[:2]
        for name in (n for n in LAYER_REGIONS if n in regions):
            region = np.asarray(regions[name], bool)
            if region.shape != (h, w) or not region.any():
                continue
            scored[name] = scored.get(name, 0) + 1
            for layer, weight in shown_by[t].items():
                shows = region & (cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5)
                key = f"{name}/{layer}"
                shares[key] = shares.get(key, 0.0) + float(shows.sum() / region.sum())
                if shows.sum() < MIN_LAYER_PX:
                    continue
                dr = temporal.region_detail_retention(
                    outputs[t], reference[t], {key: shows}, min_share=0.0
                )[key]
                if dr is not None:
                    detail.setdefault(key, []).append(dr)
    order = {n: i for i, n in enumerate(LAYER_REGIONS + LAYERS)}
    keys = sorted(shares, key=lambda k: tuple(order.get(p, 99) for p in k.split("/")))
    return {
        key: {
            "share_mean": shares[key] / scored[key.split("/")[0]],
            "frames": len(detail.get(key, [])),
            "detail_retention_min": min(detail[key]) if key in detail else None,
            "detail_retention_mean": float(np.mean(detail[key])) if key in detail else None,
        }
        for key in keys
    }


def print_layers(figures: dict[str, dict]) -> None:
    """Rows of the bench table: one per region and layer."""
    print(f"{'':6} {'region/layer':20} {'share':>6} {'frames':>6} {'DR min':>7} {'DR mean':>7}")
    for key, r in figures.items():
        print(
            f"{'':6} {key:20} {r['share_mean']:6.3f} {r['frames']:6d} "
            f"{_fmt(r['detail_retention_min'], '7.3f')} {_fmt(r['detail_retention_mean'], '7.3f')}"
        )


def region_energy(image: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Mean gradient energy (``temporal.gradient_energy_map``) of ``image`` in each region,
    None where the region is under ``MIN_SHARE`` of the frame."""
    energy = temporal.gradient_energy_map(image)
    return {
        name: float(energy[r].mean()) if (r := np.asarray(m, bool)).mean() >= MIN_SHARE else None
        for name, m in regions.items()
    }


def seed_mean_figures(
    outputs: list[list[np.ndarray]], references: list[list[np.ndarray]], clip: RegionClip
) -> dict[str, dict]:
    """Per region, over several seeds (``outputs[s]`` the temporal run with seed ``s``,
    ``references[s]`` the per-frame run with the same seed): detail retention of the seeds'
    mean gradient energy over the per-frame runs' mean, frame by frame (min, mean, worst
    frame), and each seed's own min. One render's detail in a small region is a draw of its
    noise (a keyframe's draw is then held for many frames), so one seed against one seed is a
    lottery; the mean over seeds is what a method keeps."""
    per_frame: dict[str, list[tuple[int, float]]] = {}
    per_seed: dict[str, list[float]] = {}
    for t in range(1, len(clip.frames)):
        regions = clip.regions[t]
        if regions is None:
            continue
        ours = [region_energy(run[t], regions) for run in outputs]
        theirs = [region_energy(run[t], regions) for run in references]
        for name in regions:
            a = [e[name] for e in ours]
            b = [e[name] for e in theirs]
            if any(v is None for v in a + b) or sum(b) <= 1e-12:  # type: ignore[arg-type]
                continue
            per_frame.setdefault(name, []).append((t, sum(a) / sum(b)))  # type: ignore[arg-type]
            for s, (x, y) in enumerate(zip(a, b, strict=True)):
                seed_dr = per_seed.setdefault(name, [float("inf")] * len(a))
                seed_dr[s] = min(seed_dr[s], x / y)  # type: ignore[operator]
    out: dict[str, dict] = {}
    for name, values in per_frame.items():
        worst = min(values, key=lambda tv: tv[1])
        out[name] = {
            "seeds": len(outputs),
            "detail_retention_min": worst[1],
            "detail_retention_mean": float(np.mean([v for _, v in values])),
            "detail_retention_worst_frame": worst[0],
            "detail_retention_min_each_seed": per_seed[name],
        }
    return out


def print_seed_mean(figures: dict[str, dict]) -> None:
    """Rows of the bench table: the seed-mean detail retention of each region."""
    for name, r in figures.items():
        each = " ".join(f"{v:.3f}" for v in r["detail_retention_min_each_seed"])
        print(
            f"{'':6} {name:10} over {r['seeds']} seeds: DR min {r['detail_retention_min']:.3f} "
            f"(frame {r['detail_retention_worst_frame']}), mean {r['detail_retention_mean']:.3f}; "
            f"each seed's min {each}"
        )
