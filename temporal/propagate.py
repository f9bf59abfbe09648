"""Pixel-space propagation: what the anchors still see is shown as they rendered it.

Rerender-A-Video's full-video step (keyframes are rendered, the frames between are carried
from them in pixel space), done with the job's own flow. Why not only in the latent: on the
VAE a warped latent does not decode to the warped picture, a re-denoise regenerates texture
however it is steered, and repeated bilinear warps are an exponential blur (issue 11's
measurements: steadiness bought by blur). So each output pixel is, in this order:

1. the oldest keyframe anchor that still sees it, resampled *once* (Lanczos) along the flow
   composed since that anchor, with the source's brightness change since then applied (a
   per-channel gain and offset matched on the source, then again on the half of the frame
   that match fits best: a fade stays a fade, and a figure crossing a still shot does not
   shift the background's brightness);
2. else the oldest *patch* that holds it: a frame between keyframes keeps the part it had to
   render itself (content entering the frame, a disocclusion) as a patch, so that content too
   is resampled once from the frame it appeared in, not re-warped every frame;
3. else the previous output warped once, where this pair's flow is reliable, for the share of
   it that is not extrapolated (``extrapolated``: what a frame only filled in, and what the flow
   brings in from beyond the frame's edge);
4. else the frame's own diffusion render.

A keyframe that comes with a flow makes a new anchor from what the older anchors see and its
own full-strength render elsewhere, so content that entered since the last keyframe (rendered
then at the lower reuse strength) is restyled fully; the new anchor fades in over
``FADE_FRAMES`` (the patches and the previous output give way to it gradually, so there is no
pop), and the patches it replaces are then dropped. A scene cut or a frame without a flow
starts over. At most ``MAX_ANCHORS`` anchors and ``MAX_PATCHES`` patches are kept; one that
sees less than ``MIN_COVERAGE`` (``MIN_PATCH``) of the frame is dropped.

A frame between keyframes that the layers almost wholly hold need not be rendered at all
(``DiffusionRestyler``'s ``skip_covered``): ``fill`` shows the layers with the previous output
warped where they hold nothing, and marks those pixels stale, so the previous-output layer does
not carry them as rendered content; the next rendered frame renders them (and keeps them as its
patch). The filled share adds up frame by frame until a frame is rendered. What the flow and
the frame's own motion both bring in from beyond the frame's edge is stale too, by the share of
the sample that lies outside (half a pixel out: half): content entering slower than a pixel a
frame is a 1 px column each frame, thinner than a speck, and the previous output held it, its
edge pixel stretched over it frame after frame as streaks (8 px of them at the entering side on
issue 11's clip).

A transform whose output must follow its own fresh result makes a
``Propagator(anchors=False)``: the embedded style networks re-invent their strokes every frame,
and an anchor held over 30 frames ends 10.6 dB (style 3) to 22.8 dB (style 12) from what the
net draws for the frame (measured). Only the previous output is carried (no anchors, no
patches), and ``blend`` shows it over the fresh result with one weight, where the source is
unchanged after the flow and where the flow is reliable though the source changed (the light,
a texture the flow misses), so old content fades geometrically instead of being held: each
frame's previous output is resampled once (Lanczos) and weighs ``weight``, so content ``k``
frames old weighs ``weight ** k`` and the repeated resampling's softening stays bounded.

Trust is checked on the *source* frames, not inherited: a pixel is taken from an anchor or
patch where its source, warped the same way, matches the current source (after the matched
gain/offset) within a tolerance taken from this pair's own residual (``TOLERANCE_FACTOR`` times
its 95th percentile, at least ``TOLERANCE_MIN``), so grain does not disqualify everything and a
moving object, an occlusion or a local light change falls back to a later layer or the render;
its colour differences must match too (within ``CHROMA_FACTOR`` times that tolerance), so a
chance match of brightness between differently coloured contents is not taken.
Anchor masks lose specks and slivers thinner than ``2 * OPEN_PX`` (an opening, which leaves the
edges of what they hold in place; not at the frame edge, which is not a flow boundary) and are
feathered inward by ``Propagator(feather=...)`` pixels (``FEATHER_PX`` unless told); patch
masks, as narrow as what was rendered, only lose isolated pixels (``solid``). A feather mixes
two pictures that do not share their texture, and a mix of unrelated textures has less detail
than either: where a subject moves slowly, what it uncovers is a strip 1-3 px wide each frame,
and a wide feather mixes the render there with the layer beside it. The diffusion restyler
feathers by half a pixel for that reason (``img2img.LAYER_FEATHER_PX``; measured,
docs/BENCHMARKS.md); the steady upscalers and the style backend keep ``FEATHER_PX``.

An anchor's flow is composed frame by frame, so where a walker passed it followed the walker,
and the background the walker uncovers would never match the anchor again (on people walking
past a still camera, the anchor held 94 % of the frame at frame 1 and 82 % at frame 23, the
rest falling to patches and the previous output, which are far less steady there). So the
composed flow is mended each frame with the motion of what the anchor still holds (an affine
fit of its composed flow there) where a pixel moves with the frame (or this pair's flow is
unreliable there, as it is where something was uncovered), the composed flow points elsewhere
(by more than ``REPAIR_PX``), and the fit matches the source while the composed flow does not
(or matches it worse while more than ``REPAIR_FAR_PX`` off). The steady upscalers turn this
off (``Propagator(mend=False)``): on their clips it measured less steady (esrgan-anime, 24
frames: 0.95x -> 0.99x Lanczos's warping error on cockatoo, 0.62x -> 0.79x on Megamind;
docs/BENCHMARKS.md).

No layer is shown where it is stretched: where the map that samples it (its composed flow)
spreads one of its pixels over more than ``MAX_STRETCH`` (2) pixels along some direction
(``magnification``: a subject turning toward the camera, the edge of a walker's flow), its
source may still match but its output would show as streaks (measured: a radial fan of streaks
on the subject clip's turning subject, smooth smeared bands behind `vtest`'s walkers), so a
later layer or the render shows it. The steady upscalers turn this off
(``Propagator(max_stretch=None)``; their figures were measured without it); the style backend's
``blend`` keeps it for the previous output it carries (its figures were not measured again).

With a detail check (``Propagator(detail=...)``, the steady upscalers; off for diffusion and
the style backend), a layer is also not trusted where this frame's source has more local detail
than the source the layer was made from (``detail_energy``: squared gradient of the blurred
luma over a ``DETAIL_SIGMA`` neighbourhood, more than ``1 + detail`` times the earlier one's
plus an energy floor from the pair's tolerance): motion blur that lifts, a focus pull. Without
it an upscale held from a blurred frame stays soft after the source sharpens (measured on the
cockatoo clip: detail 0.81-0.89 of the per-frame upscale). A source that loses detail keeps
the held detail (checking both ways was measured: less steady, docs/BENCHMARKS.md). The
previous output's check is against the previous source; ``Step.gained`` marks where it failed.
Patches are softened like anchors there (at an upscale's output size they are wide, and their
hard edges switched texture on and off).

Convention: images ``(H, W, 3)`` uint8 at the working size; flows ``(H, W, 2)`` from the
current frame to the earlier one, in working pixels; masks ``(H, W)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from temporal._checks import check_flow_array, check_image
from temporal.errors import TemporalError
from temporal.occlusion import remove_specks
from temporal.resize import resize_flow, resize_mask
from temporal.warp import inside_frame, sample_coords, warp

TOLERANCE_MIN = 0.03  # luma in [0, 1], after a sigma-1 blur
TOLERANCE_FACTOR = 2.0
OPEN_PX = 2  # trust thinner than 2 x this is dropped (an opening: real edges stay put)
FEATHER_PX = 1.5  # a layer's weight ramps in over about 3 px inside its edge (module doc)
SPECK_PX = 3.0
MAX_ANCHORS = 8  # keyframe anchors kept
MAX_PATCHES = 16  # patches kept (rendered parts of frames between keyframes)
MIN_COVERAGE = 0.005  # an anchor seeing less of the frame is dropped
MIN_PATCH = 0.001  # a frame that rendered less than this share keeps no patch
MAX_GAIN = 2.0
MIN_FIT = 16  # fewer pixels than this keep the fit before
REPAIR_STRIDE = 4  # an anchor's flow is fitted on every 4th pixel each way
REPAIR_PX = 0.5  # a composed flow this close to the fitted one is left as it is
REPAIR_FAR_PX = 2.0  # ...and one that matches, unless this far from it
MEDIAN_STRIDE = 7  # the better half's bound from every 7th pixel (a median of a million is slow)
# a layer's colour differences must match the frame's within this many times the pair's luma
# tolerance: luma alone takes a chance match between differently coloured contents of one
# brightness (a red coat over grey asphalt), which only shrinking every layer kept out
CHROMA_FACTOR = 2.0
MAX_STRETCH = 2.0  # a layer magnified more than this along some direction is not shown there
FADE_FRAMES = 8
SOLID_NEIGHBOURS = 4
DETAIL_SIGMA = 4.0  # px: the neighbourhood whose detail energy the detail check compares
DETAIL_FLOOR = 0.125  # the energy floor is (this x the pair's tolerance) ** 2: flat areas pass


Layer = tuple[np.ndarray, np.ndarray, float]  # (weight, picture, fade)


def layers(
    anchors: list[Layer],
    patches: list[Layer],
    size: tuple[int, int],
    previous: Layer | None = None,
    taken: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(shown, remaining)``: each keyframe anchor in turn takes its share of what is left
    (times its ``fade``), then the patches and the ``previous`` output, then the fading anchors
    the rest of theirs; ``shown`` is their float sum, ``remaining`` the weight left to the
    render. ``taken``, when given, gets the ``(H, W)`` weight each kind of layer took
    (``anchor``, ``patch``, ``previous``): which layer shows a pixel is what a detail figure by
    layer needs (scripts/bench_restyle.py)."""
    remaining = np.ones(size, np.float32)
    shown = np.zeros((*size, 3), np.float32)

    def take(weight: np.ndarray, picture: np.ndarray, kind: str) -> None:
        nonlocal remaining, shown
        w = weight * remaining
        shown += w[:, :, None] * picture
        remaining = remaining - w
        if taken is not None:
            taken[kind] = taken[kind] + w if kind in taken else w

    for weight, picture, fade in anchors:
        take(weight * fade, picture, "anchor")
    for weight, picture, _ in patches:
        take(weight, picture, "patch")
    if previous is not None:
        take(previous[0], previous[1], "previous")
    for weight, picture, fade in anchors:
        if fade < 1.0:
            take(weight, picture, "anchor")
    return shown, remaining


def finish(shown: np.ndarray, remaining: np.ndarray, render: np.ndarray) -> np.ndarray:
    """The layers' ``shown`` with ``render`` where they leave ``remaining``, as uint8."""
    out = shown + remaining[:, :, None] * render.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def compose(
    anchors: list[Layer], patches: list[Layer], render: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(picture, render weight)``: ``layers`` over ``render``."""
    shown, remaining = layers(anchors, patches, render.shape[:2])
    return finish(shown, remaining, render), remaining


@dataclass
class Anchor:
    """A keyframe's output (or a patch: the part a frame between keyframes rendered itself) and
    its source, and the flow from the current frame to it."""

    output: np.ndarray
    source: np.ndarray
    flow: np.ndarray
    age: int = 0  # frames since it was made (a keyframe anchor fades in over FADE_FRAMES)
    own: np.ndarray | None = None  # a patch: (H, W) float, 1 where that frame rendered


@dataclass
class Step:
    """One frame's propagation before its render (``Propagator.prepare``): the layers' part of
    the picture and the weight they leave to the render; ``shown`` is None at a fresh start."""

    source: np.ndarray
    shown: np.ndarray | None = None
    remaining: np.ndarray | None = None
    anchors: list[Layer] | None = None
    filler: np.ndarray | None = None  # the previous output warped, for a frame not rendered
    moved: np.ndarray | None = None  # (H, W) bool: where the flow is reliable, inside the frame
    gained: np.ndarray | None = None  # (H, W) bool: the source gained detail (detail check)
    earlier: np.ndarray | None = None  # (H, W) the previous source's blurred luma, warped here
    taken: dict[str, np.ndarray] | None = None  # (H, W) weight each kind of layer took (layers)

    @property
    def covered(self) -> float:
        """Share of the frame the layers hold (0 at a fresh start)."""
        return 0.0 if self.remaining is None else float(1.0 - self.remaining.mean())


@dataclass
class Target:
    """What a frame's layers are matched against (``Propagator.prepare``): its ``source``, the
    source's blurred luma ``cur`` and colour differences ``chroma`` (``blurred_chroma``), the
    pair's ``tolerance``, the detail check (``sharper``, None without one) and ``along``: where
    a pixel moves with the frame's dominant motion (or this pair's flow is unreliable there:
    what a walker uncovers), so an anchor's flow may be mended there
    (``Propagator._repaired``)."""

    source: np.ndarray
    cur: np.ndarray
    chroma: np.ndarray
    tolerance: float
    sharper: Callable[[np.ndarray], np.ndarray] | None
    along: np.ndarray


def affine_motion(flow: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """``(H, W, 2)`` the affine motion fitted to ``flow`` where ``mask`` (every
    ``REPAIR_STRIDE``-th pixel each way), refitted on the half it fits best so what moves on
    its own does not tilt it; None on fewer than ``MIN_FIT`` pixels."""
    step = REPAIR_STRIDE
    ys, xs = np.nonzero(mask[::step, ::step])
    if len(ys) < MIN_FIT:
        return None
    ys, xs = ys * step, xs * step
    grid = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float64)
    flows = flow[ys, xs].astype(np.float64)
    model = np.linalg.lstsq(grid, flows, rcond=None)[0]
    off = np.abs(grid @ model - flows).sum(axis=1)
    core = off <= np.median(off)
    if int(core.sum()) >= MIN_FIT:
        model = np.linalg.lstsq(grid[core], flows[core], rcond=None)[0]
    h, w = mask.shape
    # x's part along a row plus y's part down a column, without a full grid of coordinates:
    # the same float64 sums, in about half the time (every propagator fits it each frame)
    field = np.arange(w, dtype=np.float64)[None, :, None] * model[0] + (
        np.arange(h, dtype=np.float64)[:, None, None] * model[1]
    )
    field += model[2]
    return field.astype(np.float32)


def extrapolated(
    stale: np.ndarray | None, at: tuple[np.ndarray, np.ndarray], motion: np.ndarray | None
) -> np.ndarray:
    """``(H, W)`` float: the share of each pixel of the previous output sampled at ``at``
    (``sample_coords``) that is extrapolated, not rendered: its own ``stale`` share (None:
    none), and what the frame brings in from beyond its edge (``beyond``), by the flow ``at``
    samples along and by the frame's ``motion`` (``affine_motion``), whichever says less: at
    the edge of a still shot a flow points out of the frame by a fraction of a pixel here and
    there, while the frame's motion says nothing enters."""
    edge = beyond(at)
    if motion is not None:
        edge = np.minimum(edge, beyond(sample_coords(motion)))
    if stale is None:
        return edge
    carried = sample(stale.astype(np.float32), at, cv2.INTER_LINEAR)
    return np.asarray(carried + (1.0 - carried) * edge, np.float32)


def beyond(at: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``(H, W)`` float: the share of a bilinear sample at ``at`` (``sample_coords``) that lies
    beyond the frame's edge (half a pixel out: half), 0 inside."""
    xs, ys = at
    h, w = xs.shape
    ox = np.clip(np.maximum(-xs, xs - (w - 1)), 0.0, 1.0)
    oy = np.clip(np.maximum(-ys, ys - (h - 1)), 0.0, 1.0)
    return (1.0 - (1.0 - ox) * (1.0 - oy)).astype(np.float32)


def magnification(at: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``(H, W)`` how far a layer sampled at ``at`` (``sample_coords``: the source position of
    each pixel) is stretched here: 1 / the smaller singular value of the sampling map's
    Jacobian (central differences), so 1 under a shift or rotation and 2 where one source pixel
    spans two along some direction (a zoom in, a subject turning away, a flow's edge)."""
    xs, ys = (np.asarray(c, np.float32) for c in at)
    (xy, xx), (yy, yx) = np.gradient(xs), np.gradient(ys)  # d/drow, d/dcol of each
    sq = xx * xx + xy * xy + yx * yx + yy * yy
    det = xx * yy - xy * yx
    small = np.sqrt(np.maximum((sq - np.sqrt(np.maximum(sq * sq - 4.0 * det * det, 0.0))) / 2, 0))
    return 1.0 / np.maximum(small, 1e-3)


def check_source(source: object, name: str = "source") -> np.ndarray:
    """Return ``source`` as an ``(H, W, 3)`` uint8 array or raise naming ``name``."""
    image = check_image(source, name)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise TemporalError(f"{name} must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    return image


def check_mask(mask: object, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as an ``(H, W)`` bool array or raise naming ``name``."""
    image = check_image(mask, name)
    if image.ndim != 2:
        raise TemporalError(f"{name} must have shape (H, W), got {image.shape}")
    return image.astype(bool, copy=False)


def blurred_luma(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(H, W)`` float32 luma in [0, 1], Gaussian sigma 1."""
    y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return np.asarray(cv2.GaussianBlur(y, (0, 0), 1.0))


def blurred_chroma(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(H, W, 2)`` float32 colour differences (R - G, B - G) in [-1, 1],
    Gaussian sigma 1."""
    x = image.astype(np.float32) / 255.0
    c = np.stack([x[..., 0] - x[..., 1], x[..., 2] - x[..., 1]], axis=2)
    return np.asarray(cv2.GaussianBlur(c, (0, 0), 1.0))


def sample(image: np.ndarray, at: tuple[np.ndarray, np.ndarray], interpolation: int) -> np.ndarray:
    """``out[p] = image[at(p)]`` with ``interpolation``, border replicated."""
    xs, ys = at
    return np.asarray(cv2.remap(image, xs, ys, interpolation, borderMode=cv2.BORDER_REPLICATE))


def detail_energy(luma: np.ndarray) -> np.ndarray:
    """``(H, W)`` local detail energy of a blurred luma: its squared gradient (per pixel)
    averaged over a Gaussian neighbourhood of ``DETAIL_SIGMA``."""
    gx = np.asarray(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3), np.float32) / 8.0
    gy = np.asarray(cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3), np.float32) / 8.0
    energy = (gx * gx + gy * gy).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(energy, (0, 0), DETAIL_SIGMA))


def gain_offset(
    earlier: np.ndarray, current: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(gain, offset)`` with ``current ~ gain * earlier + offset`` on ``mask``:
    means and standard deviations matched, gain clamped to [1 / MAX_GAIN, MAX_GAIN]; identity
    on too few pixels. (Not least squares: a slightly misaligned warp decorrelates the two and
    would shrink a regression's gain, i.e. fade the propagated contrast.)"""
    c = earlier.shape[2]
    if int(np.count_nonzero(mask)) < MIN_FIT:
        return np.ones(c, np.float32), np.zeros(c, np.float32)
    m = mask.astype(np.uint8)
    mx, sx = (v.ravel().astype(np.float32) for v in cv2.meanStdDev(earlier, mask=m))
    my, sy = (v.ravel().astype(np.float32) for v in cv2.meanStdDev(current, mask=m))
    gain = np.where(sx > 1e-3, sy / np.maximum(sx, 1e-3), 1.0)
    gain = np.clip(gain, 1.0 / MAX_GAIN, MAX_GAIN).astype(np.float32)
    return gain, (my - gain * mx).astype(np.float32)


def soften(ok: np.ndarray, feather: float = FEATHER_PX) -> np.ndarray:
    """``(H, W)`` bool trust -> float weight: specks and slivers removed, feathered inward by
    a Gaussian of ``feather`` px (0: a hard edge).

    Slivers go by a morphological opening (erode by ``OPEN_PX``, dilate back), not by shrinking
    the trust: a strip of chance matches narrower than ``2 * OPEN_PX`` is dropped, while the
    edge of a region the source check holds stays where the check puts it (the frame edge is
    not eroded: it is no flow boundary). Shrunk by 2 px, every layer left a band around a
    walker to the render, frame after frame, at a different place each frame: on people
    walking past a still camera that band was most of the still background's warping error
    (docs/BENCHMARKS.md)."""
    ok = remove_specks(ok, SPECK_PX)
    if OPEN_PX > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * OPEN_PX + 1,) * 2)
        eroded = cv2.erode(ok.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=1)
        ok = cv2.dilate(eroded, k) > 0
    hard = ok.astype(np.float32)
    if feather <= 0:
        return hard
    soft = np.asarray(cv2.GaussianBlur(hard, (0, 0), feather)) * hard
    return soft.astype(np.float32)


def solid(ok: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool trust -> 0/1 float without isolated pixels: a pixel stays trusted when
    at least ``SOLID_NEIGHBOURS`` of its 3x3 neighbourhood (itself included) are (a chance match
    of the source check inside an untrusted region is a speck; a strip 2 px wide survives)."""
    count = cv2.boxFilter(ok.astype(np.float32), -1, (3, 3), normalize=False)
    return (ok & (count >= SOLID_NEIGHBOURS)).astype(np.float32)


class Propagator:
    """The anchors and the previous frame, and the per-frame composite (module doc)."""

    def __init__(
        self,
        *,
        anchors: bool = True,
        detail: float | None = None,
        mend: bool = True,
        max_stretch: float | None = MAX_STRETCH,
        feather: float = FEATHER_PX,
    ) -> None:
        self.keeps_anchors = anchors  # False: the previous output only (``blend``; module doc)
        if feather < 0:
            raise TemporalError(f"feather must be >= 0, got {feather}")
        self.feather = feather  # px a layer's weight ramps in over inside its edge (module doc)
        self.mend = mend  # mend the anchors' composed flows (module doc)
        if max_stretch is not None and max_stretch < 1:
            raise TemporalError(f"max_stretch must be None or >= 1, got {max_stretch}")
        self.max_stretch = max_stretch  # None: a layer is shown however stretched (module doc)
        if detail is not None and detail < 0:
            raise TemporalError(f"detail must be None or >= 0, got {detail}")
        self.detail = detail  # None: no detail check (module doc)
        self.reset()

    def reset(self) -> None:
        self.anchors: list[Anchor] = []
        self.patches: list[Anchor] = []
        self.prev_output: np.ndarray | None = None
        self.prev_source: np.ndarray | None = None
        self.prev_stale: np.ndarray | None = None  # (H, W) share of it only filled in
        self.coverage = 0.0  # share of the last frame not taken from its own render
        # (H, W) weight of each layer in the last frame shown, by kind (``layers``' kinds and
        # ``render``, or ``filler`` for a frame not rendered): empty for ``blend``
        self.shown_by: dict[str, np.ndarray] = {}

    def __call__(
        self,
        render: np.ndarray,
        source: np.ndarray,
        flow: np.ndarray | None,
        mask: np.ndarray | None = None,
        *,
        scene_cut: bool = False,
        keyframe: bool,
    ) -> np.ndarray:
        """The frame to show for ``render`` (the frame's own output) of ``source`` (its working
        image); remembers it, and makes it an anchor on a ``keyframe``."""
        return self.show(self.prepare(source, flow, mask, scene_cut), render, keyframe)

    def prepare(
        self,
        source: np.ndarray,
        flow: np.ndarray | None,
        mask: np.ndarray | None = None,
        scene_cut: bool = False,
    ) -> Step:
        """Carry the anchors, patches and previous output into the frame of ``source`` (once
        per frame, before ``show`` or ``fill``).

        Args:
            source: ``(H, W, 3)`` uint8, the frame's source at the size of its output.
            flow: ``(h, w, 2)`` flow from this frame's source to the previous one, at any size
                (resized to ``source``'s); None (the first frame) starts over.
            mask: ``(h, w)`` bool, where ``flow`` is reliable; None: everywhere.
            scene_cut: this frame starts a new shot (starts over).
        """
        source = check_source(source)
        prev, prev_src = self.prev_output, self.prev_source
        fits = prev is not None and prev.shape == source.shape
        if flow is None or scene_cut or not fits or prev is None or prev_src is None:
            return Step(source)
        size = source.shape[:2]
        flow = resize_flow(check_flow_array(flow), size)
        reliable = np.ones(size, bool)
        if mask is not None:
            reliable = resize_mask(check_mask(mask), size, threshold=0.999)
        cur, chroma = blurred_luma(source), blurred_chroma(source)
        moved_src = warp(prev_src, flow)
        before = blurred_luma(moved_src)
        pair = np.abs(cur - before)
        floor = float(np.quantile(pair[reliable], 0.95)) if reliable.any() else 0.0
        tolerance = max(TOLERANCE_MIN, TOLERANCE_FACTOR * floor)
        sharper = self._sharper(cur, tolerance)
        along = ~reliable
        motion = affine_motion(flow, reliable)  # the frame's own: mends, and says what enters
        if motion is not None and self.mend:
            along |= np.abs(flow - motion).max(axis=2) <= REPAIR_PX
        target = Target(source, cur, chroma, tolerance, sharper, along)

        anchors: list[Layer] = []
        patches: list[Layer] = []
        kept: list[Anchor] = []
        for a in self.anchors + self.patches:  # oldest first: each pixel resampled once
            a.flow = flow + warp(a.flow, flow)
            a.age += 1
            at, inside, fit, ok, miss = self._match(a, target)
            if self.mend and a.own is None and self._repaired(a, ok, miss, fit, target):
                at, inside, fit, ok, miss = self._match(a, target)
            gain, offset = fit
            if ok.mean() < (MIN_COVERAGE if a.own is None else MIN_PATCH):
                continue
            kept.append(a)
            out = sample(a.output, at, cv2.INTER_LANCZOS4).astype(np.float32) * gain + offset
            if a.own is None:  # the frame edge is not a flow boundary: not shrunk there
                weight = soften(ok | ~inside, self.feather) * inside
                anchors.append((weight, out, min(1.0, a.age / FADE_FRAMES)))
            elif self.detail is None:  # a patch is as narrow as what was rendered: only
                patches.append((solid(ok), out, 1.0))  # de-specked
            else:  # at an upscale's output size it is wide: softened as an anchor (module doc)
                patches.append((soften(ok, self.feather), out, 1.0))
        self.anchors = [a for a in kept if a.own is None]
        self.patches = [a for a in kept if a.own is not None and not self._refreshed(a)]
        # the previous output where this pair's flow is reliable, after the patches; a pixel
        # that frame only filled in (not rendered, ``fill``) is not carried as if it were
        at = sample_coords(flow)
        moved = reliable & inside_frame(*at)
        gained = None if sharper is None else sharper(before)
        held = moved & (pair < tolerance) & (True if gained is None else ~gained)
        held &= np.abs(blurred_chroma(moved_src) - chroma).max(axis=2) < CHROMA_FACTOR * tolerance
        if self.max_stretch is not None:
            held &= magnification(at) <= self.max_stretch
        # not what it only extrapolated: filled in, or brought in from beyond the frame's edge
        weight = soften(held, self.feather) * (1.0 - extrapolated(self.prev_stale, at, motion))
        warped = sample(prev, at, cv2.INTER_LANCZOS4)
        taken: dict[str, np.ndarray] = {}
        shown, remaining = layers(anchors, patches, size, (weight, warped, 1.0), taken)
        earlier = None if sharper is None else before
        return Step(source, shown, remaining, anchors, warped, moved, gained, earlier, taken)

    def _match(
        self, a: Anchor, target: Target
    ) -> tuple[
        tuple[np.ndarray, np.ndarray],
        np.ndarray,
        tuple[np.ndarray, np.ndarray],
        np.ndarray,
        np.ndarray,
    ]:
        """``(at, inside, (gain, offset), ok, miss)`` of layer ``a`` in this frame: where its
        flow samples it, which of that is inside it, the brightness match, where its source
        matches the frame's (``target``) and by how much it misses it there."""
        at = sample_coords(a.flow)
        inside = inside_frame(*at)
        if a.own is not None:
            # any overlap with what it rendered (it holds the whole frame it showed, so a
            # pixel at the edge is still what was seen; a 0.5 cut would make a 2 px strip
            # 1 px wide every other frame)
            inside &= sample(a.own, at, cv2.INTER_LINEAR) > 0.01
        src = sample(a.source, at, cv2.INTER_LINEAR)
        t = target
        gain, offset, luma, ok = self._fitted(src, t, inside)
        if t.sharper is not None:
            ok &= ~t.sharper(luma)
        if self.max_stretch is not None:  # stretched, its texture would show as streaks
            ok &= magnification(at) <= self.max_stretch
        return at, inside, (gain, offset), ok, np.abs(t.cur - luma)

    @staticmethod
    def _repaired(
        a: Anchor,
        ok: np.ndarray,
        miss: np.ndarray,
        fit: tuple[np.ndarray, np.ndarray],
        target: Target,
    ) -> bool:
        """Mend anchor ``a``'s composed flow with the motion of what it holds
        (``affine_motion`` of its composed flow where it matches, ``ok``) where a pixel moves
        with the frame (``target.along``) and that motion matches the frame's source, while
        the composed flow does not or matches it worse (``miss``) pointing elsewhere: a flow
        composed through a passing walker follows the walker, so without this the
        background it uncovers would never be the anchor's again (module doc). True when
        some pixels took the fitted flow."""
        fitted = affine_motion(a.flow, ok)
        if fitted is None:
            return False
        at = sample_coords(fitted)
        gain, offset = fit
        src = sample(a.source, at, cv2.INTER_LINEAR).astype(np.float32) * gain + offset
        luma = blurred_luma(np.clip(src, 0, 255).astype(np.uint8))
        better = np.abs(target.cur - luma)
        # only where the composed flow points elsewhere (by more than REPAIR_PX): closer, the
        # two are one motion, a miss is the content's own change, and switching between them
        # frame by frame would only make the held picture jitter
        apart = np.abs(fitted - a.flow).max(axis=2)
        take = target.along & (apart > REPAIR_PX) & inside_frame(*at) & (better < target.tolerance)
        # a composed flow that still matches is only mended when it is far off (a chance match
        # of a flow that followed a walker), not for the drift of a long chain of flows
        take &= ~ok | ((better < miss) & (apart > REPAIR_FAR_PX))
        if target.sharper is not None:
            take &= ~target.sharper(luma)
        take = remove_specks(take, SPECK_PX)
        if not take.any():
            return False
        a.flow[take] = fitted[take]
        return True

    @staticmethod
    def _fitted(
        src: np.ndarray, target: Target, inside: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(gain, offset, luma, ok)``: the brightness change from a layer's warped source
        ``src`` to this frame's source (``target``), fitted on the whole frame (a fade) and
        then again on the half of it that fit matched best, so what moved or changed does not
        tilt it; the refitted source's blurred ``luma`` and where it matches the frame's, its
        colour differences within ``CHROMA_FACTOR`` times the tolerance too (``ok``)."""
        source, cur, chroma, tolerance = target.source, target.cur, target.chroma, target.tolerance

        def refit(gain: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            fitted = np.clip(src.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
            return fitted, blurred_luma(fitted)

        gain, offset = gain_offset(src, source, inside)
        fitted, luma = refit(gain, offset)
        # a figure entering a still shot tilts the whole frame's statistics (a dark one 6 % of
        # the frame shifted the background by 25 levels): refitted on the better half of the
        # match, what moved falls out and the still background stays put
        residual = np.abs(cur - luma)
        core = inside & (residual <= np.median(residual[inside][::MEDIAN_STRIDE]))
        if np.count_nonzero(core) >= MIN_FIT:
            gain, offset = gain_offset(src, source, core)
            fitted, luma = refit(gain, offset)
        # the colour check only on the final fit (a layer's colours, blurred, are not cheap)
        off = np.abs(blurred_chroma(fitted) - chroma).max(axis=2)
        ok = inside & (np.abs(cur - luma) < tolerance) & (off < CHROMA_FACTOR * tolerance)
        return gain, offset, luma, ok

    def _sharper(
        self, cur: np.ndarray, tolerance: float
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """With a detail check: a test of an earlier source's blurred luma (warped into this
        frame) that is True where this frame's source has more local detail than it by more
        than the ``detail`` share (above an energy floor from the pair's tolerance)."""
        if self.detail is None:
            return None
        bound = detail_energy(cur) - (DETAIL_FLOOR * tolerance) ** 2
        gain = 1.0 + self.detail
        return lambda earlier: bound > gain * detail_energy(earlier)

    def show(self, step: Step, render: np.ndarray, keyframe: bool) -> np.ndarray:
        """The frame to show: ``step``'s layers over ``render`` (the frame's own output, the
        shape of its source); remembers it, and makes it an anchor on a ``keyframe``."""
        source, layered, remaining, anchors = step.source, step.shown, step.remaining, step.anchors
        if layered is None or remaining is None or anchors is None or render.shape != source.shape:
            self.reset()  # a fresh start: its render is the anchor at once (nothing to fade)
            self.shown_by = {"render": np.ones(source.shape[:2], np.float32)}
            return self._remember(render, source, anchor=render, age=FADE_FRAMES)
        shown = finish(layered, remaining, render)
        self.coverage = step.covered
        self.shown_by = {**(step.taken or {}), "render": remaining}
        if keyframe:  # the anchor: what the older anchors see, the keyframe's render elsewhere
            anchor = compose([(m, o, 1.0) for m, o, _ in anchors], [], render)[0]
            return self._remember(shown, source, anchor=anchor)
        own = (remaining > 0.5).astype(np.float32)
        # what this frame rendered is carried from here, once (anchors kept: patches too)
        if self.keeps_anchors and own.mean() >= MIN_PATCH:
            flat = np.zeros((*source.shape[:2], 2), np.float32)
            self.patches.append(Anchor(shown, source, flat, 0, own))
            del self.patches[:-MAX_PATCHES]
        return self._remember(shown, source, anchor=None)

    def blend(self, step: Step, render: np.ndarray, weight: float) -> np.ndarray:
        """The frame to show for a transform that follows its own fresh ``render`` (module
        doc): ``render`` moved by ``weight`` toward what the layers hold where they hold it, and
        toward the previous output warped where they do not but the flow is reliable (the
        source changed there after the flow); ``render`` elsewhere. Remembered as the previous
        output, so older content fades by ``weight`` a frame. ``weight`` 0, or a fresh start,
        gives ``render``. (A lower weight where the source changed was measured too: on the
        style nets it gave up more steadiness than it bought fidelity, docs/BENCHMARKS.md.)"""
        if not 0.0 <= weight <= 1.0:
            raise TemporalError(f"weight must be between 0 and 1, got {weight}")
        render = check_source(render, "render")
        if step.shown is None or step.remaining is None or step.filler is None:
            return self.show(step, render, keyframe=False)
        if render.shape != step.source.shape:
            raise TemporalError(f"render must have shape {step.source.shape}, got {render.shape}")
        left = step.remaining
        moved = left if step.moved is None else left * step.moved
        share = weight * (1.0 - left + moved)
        target = step.shown + left[:, :, None] * step.filler.astype(np.float32)
        shown = finish(share[:, :, None] * target, 1.0 - share, render)
        self.coverage = float(share.mean())
        self.shown_by = {}
        return self._remember(shown, step.source, anchor=None)

    def fill(self, step: Step) -> np.ndarray:
        """The frame to show without a render: the layers, and the previous output warped
        (border replicated) where they hold nothing. Those pixels are remembered as stale:
        not carried as rendered content, not kept as a patch, rendered by a later frame."""
        if step.shown is None or step.remaining is None or step.filler is None:
            raise ValueError("fill needs a prepared step with a previous frame")
        shown = finish(step.shown, step.remaining, step.filler)
        self.coverage = 1.0
        self.shown_by = {**(step.taken or {}), "filler": step.remaining}
        self._remember(shown, step.source, anchor=None)
        self.prev_stale = step.remaining
        return shown

    def _refreshed(self, patch: Anchor) -> bool:
        """A patch made before a keyframe anchor that has faded in fully is not needed: the
        keyframe rendered that content again, fully."""
        return any(a.age >= FADE_FRAMES and a.age < patch.age for a in self.anchors)

    def _remember(
        self, shown: np.ndarray, source: np.ndarray, *, anchor: np.ndarray | None, age: int = 0
    ) -> np.ndarray:
        self.prev_output, self.prev_source = shown, source
        self.prev_stale = None
        if anchor is not None and self.keeps_anchors:
            h, w = shown.shape[:2]
            flow = np.zeros((h, w, 2), np.float32)
            self.anchors.append(Anchor(anchor, source, flow, age))
            del self.anchors[:-MAX_ANCHORS]
        return shown
