"""The steady upscale (``vidx.upscale.steady``) on synthetic clips with an exact motion.

The "upscaler" stands for a shimmering per-frame learned upscaler: a tiny real network (random
SRVGGNetCompact through spandrel) whose every call adds fresh random texture. Steadied, the
texture must follow the content (lower warping error at the output size, same detail); a static
shot must not run the network again; without a flow the output is the per-frame one exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import spandrel
import torch
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact

import temporal
import vidx
from temporal.propagate import Step, blurred_luma
from tests.conftest import run_cli
from vidx.frame import FrameContext
from vidx.upscale.factory import steadied
from vidx.upscale.steady import SteadyUpscaler
from vidx.upscale.user_model import SpandrelUpscaler

SCALE = 2


def tiny_net() -> Compact:
    torch.manual_seed(0)
    return Compact(num_feat=4, num_conv=1, upscale=SCALE)


class Shimmering(SpandrelUpscaler):
    """The tiny network, plus new high-frequency texture on every call (per-frame shimmer)."""

    def __init__(self) -> None:
        descriptor = spandrel.ModelLoader().load_from_state_dict(tiny_net().state_dict())
        super().__init__("shimmer", descriptor, tile=0)
        self.rng = torch.Generator().manual_seed(1)

    def network(self, batch: torch.Tensor) -> torch.Tensor:
        out = super().network(batch)
        grain = torch.rand(out.shape, generator=self.rng) - 0.5
        return (out + 0.15 * grain).clamp(0, 1)


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h // 4, w // 4, 3)).astype(np.uint8)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)


def pan(n: int, dx: int, h: int = 48, w: int = 64) -> tuple[list[np.ndarray], list[FrameContext]]:
    """Content moving right by ``dx`` whole pixels a frame, with its exact flow."""
    scene = texture(h, w + dx * n)
    frames, ctxs = [], []
    for i in range(n):
        frame = np.ascontiguousarray(scene[:, dx * (n - i) : dx * (n - i) + w])
        flow = np.zeros((h, w, 2), np.float32)
        flow[..., 0] = -dx
        first = i == 0
        ctxs.append(
            FrameContext(
                i,
                frame,
                keyframe=first,
                flow=None if first else flow,
                mask=None if first else np.ones((h, w), bool),
            )
        )
        frames.append(frame)
    return frames, ctxs


def upscale_all(upscaler, frames, ctxs) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    return [upscaler(f, (w * SCALE, h * SCALE), c) for f, c in zip(frames, ctxs, strict=True)]


def warp_errors(outs: list[np.ndarray], dx: int) -> list[float]:
    """Warping error of each pair at the output size with the exact flow (the entering strip
    at the left edge left out)."""
    h, w = outs[0].shape[:2]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = -dx * SCALE
    mask = np.ones((h, w), bool)
    mask[:, : dx * SCALE + 2] = False
    return [
        float(temporal.exact_pair_warp_error(a, b, flow, mask=mask))
        for a, b in zip(outs, outs[1:], strict=False)
    ]


def test_steady_upscale_follows_the_content_and_keeps_the_detail() -> None:
    frames, ctxs = pan(6, 2)
    per_frame = upscale_all(Shimmering(), frames, ctxs)
    steady = upscale_all(SteadyUpscaler(Shimmering()), frames, ctxs)
    assert np.array_equal(steady[0], per_frame[0])  # a fresh start is the per-frame upscale
    assert np.mean(warp_errors(steady, 2)) < 0.2 * np.mean(warp_errors(per_frame, 2))
    detail = [temporal.detail_retention(s, p) for s, p in zip(steady, per_frame, strict=True)]
    assert min(detail) > 0.9  # the propagated texture is the upscaler's, not a blur of it


def test_a_static_shot_runs_the_network_once_and_a_moving_one_every_frame() -> None:
    still = texture(96, 192, seed=3)
    n = 5
    zero = np.zeros((96, 192, 2), np.float32)
    ctxs = [FrameContext(i, still, keyframe=i == 0, flow=zero if i else None) for i in range(n)]
    static = SteadyUpscaler(Shimmering())
    outs = upscale_all(static, [still] * n, ctxs)
    assert static.stats.calls == [1, 0, 0, 0, 0]
    assert temporal.psnr(outs[-1], outs[0]) > 40
    frames, moving_ctxs = pan(n, 3, 96, 192)
    moving = SteadyUpscaler(Shimmering())
    upscale_all(moving, frames, moving_ctxs)
    assert moving.stats.calls[0] == 1 and all(c >= 1 for c in moving.stats.calls)
    summary = static.describe()["temporal"]
    assert summary["model_calls"] == 1 and summary["frames_without_model"] == n - 1


def test_only_the_tiles_that_changed_run() -> None:
    still = texture(96, 320, seed=4)  # 2 x 5 tiles of 64 px
    changed = still.copy()
    changed[10:30, 10:40] = 255 - changed[10:30, 10:40]  # a light change in the first tile
    zero = np.zeros((96, 320, 2), np.float32)
    ctxs = [
        FrameContext(0, still, keyframe=True),
        FrameContext(1, changed, keyframe=False, flow=zero),
    ]
    steady = SteadyUpscaler(Shimmering())
    outs = upscale_all(steady, [still, changed], ctxs)
    assert steady.stats.calls == [1, 1]  # one tile, with its context, instead of the frame
    assert steady.stats.tiles_run == 10 + 1
    fresh = steady.base(changed, (640, 192))  # (its own grain: ~13 levels from any other)
    inside = (slice(24, 56), slice(24, 76))  # the changed part shows a fresh upscale: in the
    # band its source determines at least (the texture above it may be held where the source's
    # structure matches after the flow, which DIS finds in places here)

    def gap(a: np.ndarray, b: np.ndarray, sigma: float = 0.0) -> float:
        if sigma:
            a, b = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), sigma) for x in (a, b))
        return float(np.abs(a[inside].astype(np.float32) - b[inside].astype(np.float32)).mean())

    assert gap(outs[1], fresh, sigma=2.0) < 6 and gap(outs[1], outs[0]) > 60


def test_without_a_flow_or_switched_off_it_is_the_per_frame_upscale() -> None:
    frames, ctxs = pan(3, 2)
    no_flow = [FrameContext(c.index, c.source, keyframe=True) for c in ctxs]
    per_frame = upscale_all(Shimmering(), frames, no_flow)
    steady = upscale_all(SteadyUpscaler(Shimmering()), frames, no_flow)
    assert all(np.array_equal(a, b) for a, b in zip(steady, per_frame, strict=True))
    base = Shimmering()
    assert steadied(base, False) is base and isinstance(steadied(base, True), SteadyUpscaler)


def test_the_sidecar_counts_model_calls_and_no_temporal_switches_it_off(clip, tmp_path: Path):
    model = tmp_path / "tiny.safetensors"
    save_file(tiny_net().state_dict(), str(model))
    src = clip(frames=4, size=(64, 48))
    on, off = tmp_path / "on.mp4", tmp_path / "off.mp4"
    vidx.render(src, on, upscaler=str(model), size="x2", crf=0)
    result = run_cli(
        "upscale", src, "-o", off, "--upscaler", model, "--size", "x2", "--no-temporal"
    )
    assert result.exit_code == 0, result.output
    steady = json.loads(Path(f"{on}.json").read_text())["upscale"]["temporal"]
    assert steady["frames"] == 4 and steady["model_calls"] >= 1
    assert steady["model_calls_per_frame"] == steady["model_calls"] / 4
    plain = json.loads(Path(f"{off}.json").read_text())
    assert "temporal" not in plain["upscale"]
    assert plain["params"]["upscale"]["upscale_temporal"] is False


@pytest.mark.parametrize("reliable", [True, False])
def test_where_the_source_changed_the_low_band_is_fresh_and_the_detail_is_held(reliable) -> None:
    """A spot of a still shot brightens (the source changed there, its structure did not): the
    output there takes the fresh upscale's low band (it brightens as the per-frame upscale
    does) and keeps the earlier output's detail band (the texture is not re-invented), whether
    or not the analysis mask trusts its flow (the structure check tests the flow used)."""
    grain = np.random.default_rng(2).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    still = cv2.GaussianBlur(grain, (0, 0), 0.8)  # fine detail: the bump adds little to it
    yy, xx = np.mgrid[:48, :64]
    bump = 16 * np.exp(-((yy - 24) ** 2 + (xx - 32) ** 2) / (2 * 4.0**2))  # no new edge
    lit = np.clip(still + bump[:, :, None], 0, 255).astype(np.uint8)
    frames = [still, lit]
    flow, mask = np.zeros((48, 64, 2), np.float32), np.full((48, 64), reliable)
    ctxs = [
        FrameContext(0, still, keyframe=True),
        FrameContext(1, lit, keyframe=False, flow=flow, mask=mask),
    ]
    steady = upscale_all(SteadyUpscaler(Shimmering()), frames, ctxs)
    per_frame = upscale_all(Shimmering(), frames, ctxs)
    box = np.s_[44:52, 60:68]  # the brightest part, at the output size

    def high(x: np.ndarray) -> np.ndarray:
        f = x.astype(np.float32)
        return f - cv2.GaussianBlur(f, (0, 0), 1.0)

    def change(outs: list[np.ndarray], part) -> np.ndarray:
        return np.abs(part(outs[1])[box] - part(outs[0])[box]).mean()

    mean = lambda x: x.astype(np.float32).mean(axis=(0, 1))  # noqa: E731
    assert change(steady, high) < 0.3 * change(per_frame, high)
    brightened = mean(per_frame[1][box]) - mean(per_frame[0][box])
    assert np.abs(brightened).max() > 5
    followed = mean(steady[1][box]) - mean(steady[0][box])
    assert np.abs(followed - brightened).max() < 0.2 * np.abs(brightened).max() + 1


@pytest.mark.parametrize("richer", [False, True])
def test_where_the_source_gained_detail_the_band_is_held_unless_the_network_draws_more(richer):
    """Where the source gained detail (the propagation's detail check) and kept its structure:
    when the fresh upscale's detail band is no richer than the one held (the gain is in the
    source's own band, e.g. a mouth opening in animation), the held band stays under the fresh
    low band (the texture is not re-invented); when it is richer by more than the detail
    share (motion blur that lifts), the fresh upscale shows whole."""
    rng = np.random.default_rng(4)
    source = cv2.resize(texture(48, 64), (128, 96), interpolation=cv2.INTER_LANCZOS4)

    def drawn(amplitude: float) -> np.ndarray:
        grain = rng.uniform(-amplitude, amplitude, source.shape)
        return np.clip(np.rint(source + grain), 0, 255).astype(np.uint8)

    held, fresh = drawn(10.0), drawn(30.0 if richer else 10.0)
    everywhere = np.ones(source.shape[:2], bool)
    step = Step(source, filler=held, gained=everywhere, earlier=blurred_luma(source))
    out = SteadyUpscaler(Shimmering())._hold_detail(fresh, step, float(SCALE))

    def high(x: np.ndarray) -> np.ndarray:
        f = x.astype(np.float32)
        return f - cv2.GaussianBlur(f, (0, 0), 1.0)

    inner = np.s_[8:-8, 8:-8]
    to_held = np.abs(high(out) - high(held))[inner].mean()
    to_fresh = np.abs(high(out) - high(fresh))[inner].mean()
    if richer:
        assert np.array_equal(out, fresh)
    else:
        assert to_held < 0.3 * to_fresh
