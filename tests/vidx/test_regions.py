"""``--keep``/``--mask``: restyle only where asked, the kept part following a camera pan, with the
embedded style backend end to end (the diffusion side: restyle/diffusion/test_diffusion_mask.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from temporal.metrics import psnr
from tests.conftest import make_clip, run_cli
from vidx.errors import OptionError
from vidx.frame import FrameContext
from vidx.io.images import read_image, write_image
from vidx.options import JobOptions
from vidx.regions import RegionTrack, box_region, composite, fit_motion, parse_boxes
from vidx.upscale.factory import make_upscaler

W, H, PAN = 128, 96, 3  # the camera pans right PAN px a frame: the scene moves left
BOX = (40, 30, 32, 24)  # x, y, w, h on the first frame, around the distinctive patch
FEATHER = 4


def scene(width: int = W + 64, height: int = H) -> np.ndarray:
    """A textured world wider than the frame, with a high-contrast checker patch in BOX."""
    rng = np.random.default_rng(7)
    noise = cv2.resize(
        rng.integers(0, 255, (height // 4, width // 4, 3), dtype=np.uint8),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    y, x = np.mgrid[0:height, 0:width]
    world = (noise.astype(np.float32) * 0.6 + 50 + 40 * np.sin(x / 5.0)[..., None]).clip(0, 255)
    world = world.astype(np.uint8)
    bx, by, bw, bh = BOX
    checker = ((x[by : by + bh, bx : bx + bw] // 4 + y[by : by + bh, bx : bx + bw] // 4) % 2) * 200
    world[by : by + bh, bx : bx + bw] = (checker[..., None] + np.array([30, 10, 50])).astype(
        np.uint8
    )
    return world


def pan_clip(path: Path, frames: int = 10) -> Path:
    world = scene()
    return make_clip(
        path,
        frames,
        (W, H),
        image=lambda i, w, h: np.ascontiguousarray(world[:, PAN * i : PAN * i + w]),
    )


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def box_at(i: int) -> tuple[int, int, int, int]:
    x, y, w, h = BOX
    return x - PAN * i, y, w, h


def inner(box: tuple[int, ...], margin: int) -> tuple[slice, slice]:
    x, y, w, h = box
    return slice(y + margin, y + h - margin), slice(max(0, x + margin), x + w - margin)


def kept_centre(out: np.ndarray, src: np.ndarray) -> tuple[float, float]:
    """Where the output is the source: the centre of the largest such blob (x, y)."""
    same = (np.abs(out.astype(int) - src.astype(int)).max(axis=2) <= 6).astype(np.uint8)
    same = cv2.morphologyEx(same, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(same)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return float(centroids[best][0]), float(centroids[best][1])


def check_kept_and_restyled(outs: list[np.ndarray], srcs: list[np.ndarray], scale: int = 1) -> None:
    """The done-when check: every frame's box (moved with the pan) is the source at PSNR >= 40
    dB (feather excluded), the box's position moved with the pan, and the rest is restyled.
    ``scale``: the output is the source times this (``srcs`` resized the same way)."""
    assert len(outs) == len(srcs) >= 8
    margin = (FEATHER // 2 + 2) * scale
    for i, (out, src) in enumerate(zip(outs, srcs, strict=True)):
        box = tuple(v * scale for v in box_at(i))
        rows, cols = inner(box, margin)
        assert psnr(out[rows, cols], src[rows, cols], peak=255) >= 40, i
        cx, cy = kept_centre(out, src)
        near = 2.5 * scale
        centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        assert abs(cx - centre[0]) <= near and abs(cy - centre[1]) <= near, (i, cx, cy)
        away = np.ones(out.shape[:2], bool)
        x, y, w, h = box
        m = 8 * scale
        away[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m] = False
        assert np.abs(out[away].astype(int) - src[away].astype(int)).mean() > 8, i


ENCODE = ("--crf", "0", "--pix-fmt", "yuv444p")  # near-lossless: the check measures vidx


@pytest.mark.parametrize("temporal", [(), ("--no-temporal",)])
def test_keep_box_follows_a_pan_with_the_style_backend(tmp_path: Path, temporal: tuple) -> None:
    src = pan_clip(tmp_path / "pan.mp4")  # (without temporal steps the flow still tracks)
    out = tmp_path / "out.mp4"
    keep = ",".join(str(v) for v in BOX)
    result = run_cli(
        "restyle",
        src,
        "-o",
        out,
        "--style",
        "3",
        "--keep",
        keep,
        "--mask-feather",
        FEATHER,
        *ENCODE,
        *temporal,
    )
    assert result.exit_code == 0, result.output
    check_kept_and_restyled(decode(out), decode(src))
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["region"]["keep"] == keep and meta["region"]["follows_motion"]
    assert meta["params"]["restyle"]["keep"] == keep
    assert "one piece" in result.output  # (said: a masked job is not resumable)


def test_a_still_mask_follows_the_pan_and_a_video_mask_is_used_frame_by_frame(
    tmp_path: Path,
) -> None:
    src = pan_clip(tmp_path / "pan.mp4")
    srcs = decode(src)
    still = tmp_path / "mask.png"  # at half the size: a mask is resized to the frame
    mask = np.full((H // 2, W // 2, 3), 255, np.uint8)
    x, y, w, h = BOX
    mask[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = 0
    write_image(still, mask)
    out = tmp_path / "still.mp4"
    result = run_cli("restyle", src, "-o", out, "--style", "3", "--mask", still, *ENCODE)
    assert result.exit_code == 0, result.output
    check_kept_and_restyled(decode(out), srcs)
    # a video mask: the box moves with the pan in the mask itself, nothing is tracked
    moving = make_clip(
        tmp_path / "mask.mp4",
        len(srcs),
        (W, H),
        image=lambda i, w_, h_: np.repeat(
            box_region(",".join(map(str, box_at(i))), (h_, w_))[..., None] * 255, 3, axis=2
        ).astype(np.uint8),
    )
    out2 = tmp_path / "video.mp4"
    result = run_cli("restyle", src, "-o", out2, "--style", "3", "--mask", moving, *ENCODE)
    assert result.exit_code == 0, result.output
    check_kept_and_restyled(decode(out2), srcs)
    meta = json.loads(Path(f"{out2}.json").read_text())
    assert meta["region"]["follows_motion"] is False


def test_boxes_parse_in_pixels_or_fractions_and_bad_ones_are_option_errors() -> None:
    assert parse_boxes("10,20,30,40") == [((10, 20, 30, 40), False)]
    assert parse_boxes("0.1,0.2,0.3,0.4; 1,2,3,4")[0][1] is True
    region = box_region("0.25,0.5,0.5,0.25", (8, 8))
    assert region.sum() == 64 - 8 and region[4, 2] == 0 and region[4, 1] == 1
    for bad in ("1,2,3", "a,b,c,d", "1,2,0,4", "0.5,0.5,0.6,0.1", ";"):
        with pytest.raises(OptionError) as caught:
            JobOptions.from_flat({"style": "3", "keep": bad})
        assert caught.value.param == "keep"
    with pytest.raises(OptionError, match="needs a restyle"):
        JobOptions.from_flat({"keep": "1,2,3,4"})


def test_keep_is_refused_before_any_work_when_it_misses_the_frame(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", 2)
    out = tmp_path / "out.mp4"
    result = run_cli("restyle", src, "-o", out, "--style", "3", "--keep", "500,10,20,20")
    assert result.exit_code == 2 and "--keep" in result.output and "outside" in result.output
    wide = tmp_path / "wide.png"
    write_image(wide, np.zeros((10, 90, 3), np.uint8))
    result = run_cli("restyle", src, "-o", out, "--style", "3", "--mask", wide)
    assert result.exit_code == 2 and "shape" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = run_cli("restyle", src, "-o", out, "--style", "3", "--mask", tmp_path / "no.png")
    assert result.exit_code == 2 and not out.exists()


def test_motion_fit_recovers_a_shift_and_the_composite_keeps_the_source_exactly() -> None:
    flow = np.zeros((24, 32, 2), np.float32)
    flow[..., 0] = 1.5  # backward flow: each pixel came from 1.5 px to the right
    inside = np.zeros((24, 32), bool)
    inside[6:18, 8:24] = True
    step = fit_motion(flow, None, inside, (48, 64))  # the source is twice the analysis size
    assert step is not None and np.allclose(step[:2, 2], [-3.0, 0.0], atol=1e-3)
    track = RegionTrack(None, "16,12,16,16", feather=0)
    ctx0 = FrameContext(0, np.zeros((48, 64, 3), np.uint8), keyframe=True)
    assert track.track(ctx0, (48, 64))[20, 20] == 0
    moved = track.track(FrameContext(1, ctx0.source, keyframe=False, flow=flow), (48, 64))
    assert moved[20, 14] == 0 and moved[20, 30] == 1  # 3 px to the left
    cut = track.track(FrameContext(2, ctx0.source, keyframe=True, scene_cut=True), (48, 64))
    assert cut[20, 16] == 0 and cut[20, 14] == 1  # back where it was drawn
    a = np.full((4, 4, 3), 200, np.uint8)
    b = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    weight = np.zeros((4, 4), np.float32)
    weight[:, 2:] = 1
    out = composite(a, b, weight)
    assert (out[:, :2] == b[:, :2]).all() and (out[:, 2:] == 200).all()


def test_a_variants_job_keeps_the_logo_in_each_season(tmp_path: Path) -> None:
    src = pan_clip(tmp_path / "pan.mp4", frames=8)
    job = tmp_path / "job.toml"
    job.write_text(
        f"""
[shared]
keep = "{",".join(map(str, BOX))}"
mask_feather = {FEATHER}
crf = 0
pix_fmt = "yuv444p"

[variants.winter]
style = 5

[variants.summer]
style = 3
size = "x2"
"""
    )
    outdir = tmp_path / "out"
    result = run_cli("variants", src, "--job", job, "-o", outdir)
    assert result.exit_code == 0, result.output
    srcs = decode(src)
    check_kept_and_restyled(decode(outdir / "winter.mp4"), srcs)
    lanczos = make_upscaler("lanczos")  # the kept part is the source upscaled the same way
    bigger = [lanczos(s, (2 * W, 2 * H)) for s in srcs]
    check_kept_and_restyled(decode(outdir / "summer.mp4"), bigger, scale=2)


def test_a_picture_keeps_its_box_too(tmp_path: Path) -> None:
    picture = tmp_path / "in.png"
    write_image(picture, scene(W, H))
    out = tmp_path / "out.png"
    result = run_cli("restyle", picture, "-o", out, "--style", "3", "--keep", "0.3,0.3,0.25,0.25")
    assert result.exit_code == 0, result.output
    got, src = read_image(out).astype(int), scene(W, H).astype(int)
    assert (got[35:49, 46:62] == src[35:49, 46:62]).all()  # inside the box (x 38-70, y 29-53)
    assert np.abs(got[:, :30] - src[:, :30]).mean() > 8


def test_a_job_files_mask_resolves_in_its_folder_and_may_not_leave_it(tmp_path: Path) -> None:
    from vidx.jobs.jobfile import load_job

    job = tmp_path / "job.toml"
    job.write_text('[variants.a]\nstyle = 3\nmask = "logo.png"\n[variants.b]\nstyle = 5\n')
    loaded = load_job(job)
    assert loaded.settings("a")["mask"] == str((tmp_path / "logo.png").absolute())
    assert "mask" not in loaded.settings("b")
    job.write_text('[variants.a]\nstyle = 3\nmask = "../logo.png"\n')
    with pytest.raises(OptionError, match="inside the job file's folder"):
        load_job(job)
