"""scripts/subject_clip.py: a subject moving, turning (and bending) over a panning photo, with
exact flow and labels; and scripts/bench_regions.py's clips and per-region figures."""

from __future__ import annotations

import numpy as np
import pytest

import temporal
from scripts.bench_regions import layer_figures, load_clip, region_figures, seed_mean_figures
from scripts.subject_clip import subject_clip
from tests.conftest import real_clip_path


@pytest.mark.parametrize("deform", [False, True])
def test_exact_flow_warps_the_previous_frame_onto_the_next(deform: bool) -> None:
    clip = subject_clip(4, 128, 160, deform=deform)
    assert len(clip.frames) == 4 and clip.flows[0] is None and clip.regions[0] is None
    for t in range(1, 4):
        regions, flow, trusted = clip.regions[t], clip.flows[t], clip.trusted[t]
        assert set(regions) == {"subject", "background", "uncovered", "entering"}
        assert (sum(m.astype(int) for m in regions.values()) == 1).all()
        shares = temporal.region_shares(regions)
        assert 0.05 < shares["subject"] < 0.2 and shares["uncovered"] > 0.002
        assert shares["entering"] > 0.002  # the strip the pan brings in on the right
        assert regions["entering"][:, -1].all() and not regions["entering"][:, :-4].any()
        prev, cur = clip.frames[t - 1], clip.frames[t]
        exact = temporal.region_warp_errors(prev, cur, flow, regions, trusted=trusted)
        assert exact["subject"] < 5e-4 and exact["background"] < 5e-4
        assert exact["uncovered"] is None and exact["entering"] is None  # not trusted
        pan = np.broadcast_to(flow[0, 0], flow.shape).copy()  # the background's motion
        wrong = temporal.region_warp_errors(prev, cur, pan, regions, trusted=trusted)
        assert wrong["subject"] > 20 * exact["subject"]  # the subject moves by itself


def test_deform_bends_the_subject() -> None:
    rigid, bent = subject_clip(3, 96, 128), subject_clip(3, 96, 128, deform=True)
    assert np.array_equal(rigid.frames[0][0], bent.frames[0][0])  # same background
    s = rigid.regions[2]["subject"] & bent.regions[2]["subject"]
    assert np.abs(rigid.flows[2][s] - bent.flows[2][s]).max() > 0.5


def test_region_figures_of_an_output_against_itself() -> None:
    clip = load_clip("subject", 4, 96, 128)
    figures = region_figures(clip.frames, clip.frames, clip)
    assert figures["subject"]["detail_retention_min"] == pytest.approx(1.0)
    assert figures["subject"]["warp_error_ratio"] == pytest.approx(1.0)
    assert figures["uncovered"]["warp_error"] is None and figures["uncovered"]["frames"] == 3


def test_layer_figures_split_a_region_by_the_layer_that_shows_it() -> None:
    # left of x = 36 (through the subject) "held" with its detail, right of it "rendered" flat:
    # the subject's detail is scored apart on each side, and the shares add up to one
    clip = load_clip("subject", 4, 96, 128)
    h, w = clip.frames[0].shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, :36] = 1.0
    outputs = [f.copy() for f in clip.frames]
    for out in outputs:
        out[:, 36:] = 128
    shown_by = [{}] + [{"anchor": left, "render": 1.0 - left}] * 3
    figures = layer_figures(outputs, clip.frames, clip, shown_by)
    assert list(figures)[:2] == ["subject/anchor", "subject/render"]
    held, rendered = figures["subject/anchor"], figures["subject/render"]
    assert held["share_mean"] + rendered["share_mean"] == pytest.approx(1.0)
    assert held["detail_retention_min"] == pytest.approx(1.0, abs=0.05)  # (the seam: Sobel)
    assert rendered["detail_retention_mean"] == pytest.approx(0.0, abs=0.05)


def test_seed_mean_detail_pools_the_energy_of_every_seed() -> None:
    # two seeds: one keeps its reference's detail, the other shows flat frames; pooled, the
    # detail is the first seed's share of both references' energy, not the mean of 1 and 0
    clip = subject_clip(3, 96, 128)
    rng = np.random.default_rng(0)
    textured = [rng.integers(0, 256, f.shape, dtype=np.uint8) for f in clip.frames]
    busier = [np.clip(f.astype(int) * 3 - 255, 0, 255).astype(np.uint8) for f in textured]
    flat = [np.full_like(f, 128) for f in clip.frames]
    figures = seed_mean_figures([textured, flat], [textured, busier], clip)
    subject = figures["subject"]
    ratios = []
    for t in (1, 2):
        s = clip.regions[t]["subject"]
        own = temporal.gradient_energy_map(textured[t])[s].mean()
        more = temporal.gradient_energy_map(busier[t])[s].mean()
        ratios.append(own / (own + more))
    assert subject["seeds"] == 2
    assert subject["detail_retention_min"] == pytest.approx(min(ratios), rel=1e-6)
    assert subject["detail_retention_worst_frame"] == 1 + int(np.argmin(ratios))
    assert subject["detail_retention_min_each_seed"] == pytest.approx([1.0, 0.0])


def test_vtest_regions_move_where_people_walk() -> None:
    if real_clip_path("vtest.avi") is None:
        pytest.skip("vtest.avi (Debian opencv-doc) cannot be had here")
    clip = load_clip("vtest", 8, 96, 128)
    assert not clip.exact and len(clip.frames) == 8
    shares = temporal.region_shares(clip.regions[7])
    assert 0.005 < shares["moving"] < 0.2 and shares["background"] > 0.7


def test_megamind_starts_after_its_black_first_frame() -> None:
    if real_clip_path("Megamind.avi") is None:
        pytest.skip("Megamind.avi (Debian opencv-doc) cannot be had here")
    clip = load_clip("megamind", 8, 96, 128)
    assert len(clip.frames) == 8 and clip.regions[0] is None
    assert min(float(f.mean()) for f in clip.frames) > 10  # frame 0 of the file is black
    shares = temporal.region_shares(clip.regions[7])  # her face, as she talks
    assert 0.05 < shares["moving"] < 0.5 and shares["background"] > 0.5


def test_labels_from_dis_find_the_subject_over_the_panning_background() -> None:
    clip = subject_clip(3, 128, 160)
    back, fwd = temporal.source_flows(clip.frames[1], clip.frames[2])
    labels = temporal.region_labels(back, fwd)  # the pan is the dominant motion, not "moving"
    found = labels["moving"] | labels["uncovered"]
    subject = clip.regions[2]["subject"]
    assert (found & subject).sum() / (found | subject).sum() > 0.6
