"""Optical flow, occlusion, warping, blending and colour statistics, noise warping, scene cuts,
temporal metrics and motion regions (per-region figures).

Plain functions over numpy arrays and torch tensors; nothing here knows about files, CLIs,
vidx or diffusers.

Convention: a flow is ``(H, W, 2)`` float32 in pixels (x in channel 0) or ``(B, 2, H, W)`` as
a tensor; ``flow(src, dst)[p]`` takes pixel p of ``src`` to its place in ``dst``, and
``warp(image, f)[p] = image[p + f[p]]``. So ``warp(prev_output, flow(cur, prev))`` aligns the
previous output to the current frame, and ``consistency_mask(flow(cur, prev), flow(prev, cur))``
says where that warp can be trusted.
"""

from __future__ import annotations

from temporal.blend import follow_color, fuse, match_color
from temporal.errors import FlowModelError, TemporalError
from temporal.flow import DIS_PRESETS, METHODS, flow, to_gray
from temporal.metrics import (
    WarpErrorMeter,
    blur_matched_sigma,
    detail_retention,
    error_summary,
    exact_pair_warp_error,
    gaussian_blur,
    gradient_energy,
    gradient_energy_map,
    pair_warp_error,
    psnr,
    source_flows,
    structure_ncc,
    warp_error,
    warp_error_pairs,
)
from temporal.motion_regions import (
    REGIONS,
    RegionMeter,
    dominant_motion,
    motion_residual,
    motion_threshold,
    moved_within,
    region_detail_retention,
    region_labels,
    region_shares,
    region_warp_errors,
    with_moving,
)
from temporal.noise import NoiseField, integral_warp_noise, noise_field, warp_noise
from temporal.occlusion import consistency_mask, occluded_mask
from temporal.raft import build_raft, load_raft
from temporal.resize import resize_flow, resize_mask
from temporal.scenecut import KeyframeScheduler, is_scene_cut, scene_cut_score
from temporal.warp import warp

__all__ = [
    "DIS_PRESETS",
    "METHODS",
    "NoiseField",
    "REGIONS",
    "RegionMeter",
    "FlowModelError",
    "KeyframeScheduler",
    "TemporalError",
    "WarpErrorMeter",
    "build_raft",
    "blur_matched_sigma",
    "consistency_mask",
    "detail_retention",
    "error_summary",
    "exact_pair_warp_error",
    "flow",
    "follow_color",
    "fuse",
    "gaussian_blur",
    "gradient_energy",
    "gradient_energy_map",
    "integral_warp_noise",
    "is_scene_cut",
    "load_raft",
    "match_color",
    "noise_field",
    "pair_warp_error",
    "psnr",
    "resize_flow",
    "resize_mask",
    "scene_cut_score",
    "structure_ncc",
    "to_gray",
    "warp",
    "warp_error",
    "warp_error_pairs",
    "warp_noise",
    "dominant_motion",
    "motion_residual",
    "motion_threshold",
    "moved_within",
    "occluded_mask",
    "region_detail_retention",
    "region_labels",
    "region_shares",
    "region_warp_errors",
    "source_flows",
    "with_moving",
]
