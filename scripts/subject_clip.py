"""Known-motion clips where something moves by itself: exact flow and exact region labels.

A subject (an elliptic cut-out of skimage's ``chelsea``, with a 2-pixel alpha edge) moves along a
curved path and turns (2 degrees a frame) over a background photo (``astronaut``) under a slow
pan; in the ``deform`` variant the subject also bends non-rigidly (a smooth sine warp of its
texture that changes every frame). Everything is rendered from maps frame -> photo, so the
backward flow of every pair is known exactly:

* background: the pan, ``back = +pan`` (the camera pans right, the scene moves left);
* subject: ``back(p) = M_{t-1}^{-1}(M_t(p)) - p`` with ``M_t`` the subject's frame -> texture map
  (a similarity, then the sine warp; its inverse by fixed-point iteration, the warp's Lipschitz
  constant being about 0.5);
* composited: the subject's flow where its alpha is at least 0.5, the background's elsewhere.

Labels of frame t (exclusive): ``subject`` (alpha >= 0.5), ``entering`` (background whose place at
t-1 is outside the frame: the strip at the border the pan brings in), ``uncovered`` (background
that the subject covered at t-1: its trail), ``background`` (the rest). ``trusted`` is where the
exact flow predicts frame t from frame t-1: not uncovered, not entering, and off the subject's
soft edge (alpha in (0.02, 0.98) mixes two motions).

Convention: sizes are ``(height, width)``, flows ``(H, W, 2)`` float32 in pixels (x first),
backward t -> t-1 as in ``temporal.warp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SUBJECT, BACKGROUND, UNCOVERED, ENTERING = "subject", "background", "uncovered", "entering"
LABELS = (SUBJECT, UNCOVERED, ENTERING, BACKGROUND)
PAN = (1.2, 0.4)  # background motion in frame pixels a frame at a height of 256 (scaled with it)
TURN_DEG = 2.0  # subject rotation a frame
PATH_RATE = 0.06  # radians a frame along the subject's Lissajous path
EDGE_PX = 2.0  # width of the alpha ramp at the subject's border, frame pixels


@dataclass
class SubjectClip:
    """Frames, the exact backward flow of each pair (entry 0 is None), and per frame the
    labels (None for frame 0, which has no previous frame) and where the exact flow holds."""

    frames: list[np.ndarray]
    flows: list[np.ndarray | None]
    regions: list[dict[str, np.ndarray] | None]
    trusted: list[np.ndarray | None]


@dataclass(frozen=True)
class _Scene:
    height: int
    width: int
    deform: bool

    @property
    def k(self) -> float:  # frame pixels per "256-high" pixel
        return self.height / 256.0

    def centre(self, t: int) -> np.ndarray:
        a = PATH_RATE * t
        return np.array(
            [
                self.width * (0.5 - 0.22 * np.cos(a)),
                self.height * (0.5 + 0.12 * np.sin(2 * a + 0.5)),
            ]
        )

    def pan(self) -> np.ndarray:
        return np.array(PAN) * self.k


def _photos(scene: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """Background and subject photos, blurred by half a frame pixel (0.6 photo pixels at
    least) so that sampling them at the frame's scale does not alias."""
    from skimage import data

    def soft(image: np.ndarray, photo_px: float) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), max(0.6, 0.5 * photo_px))

    return soft(data.astronaut(), _bg_scale(scene)), soft(data.chelsea(), _tex_scale(scene))


def _bg_scale(scene: _Scene) -> float:
    return 1.3 / scene.k  # photo pixels per frame pixel


def _tex_scale(scene: _Scene) -> float:
    return 1.8 / scene.k  # texture pixels per frame pixel


def _sine(v: np.ndarray, t: int, scene: _Scene) -> np.ndarray:
    """The deformation ``d_t(v)`` of texture coordinates ``v`` (``(..., 2)``), in texture px."""
    if not scene.deform:
        return np.zeros_like(v)
    s = _tex_scale(scene)
    amp, wave, phase = 3.0 * scene.k * s, 40.0 * scene.k * s, 0.35 * t
    dx = amp * np.sin(2 * np.pi * v[..., 1] / wave + phase)
    dy = amp * np.sin(2 * np.pi * v[..., 0] / wave + 1.3 * phase + 1.0)
    return np.stack([dx, dy], axis=-1)


def _similarity(t: int, scene: _Scene, tex_centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``v = A p + b`` taking frame pixels to texture pixels before the warp."""
    th = np.deg2rad(-TURN_DEG * t)
    rot = _tex_scale(scene) * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return rot, tex_centre - rot @ scene.centre(t)


def _to_texture(p: np.ndarray, t: int, scene: _Scene, tex_centre: np.ndarray) -> np.ndarray:
    a, b = _similarity(t, scene, tex_centre)
    v = p @ a.T + b
    return v + _sine(v, t, scene)


def _from_texture(u: np.ndarray, t: int, scene: _Scene, tex_centre: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_to_texture` (fixed point ``v = u - d_t(v)``, then the similarity)."""
    v = u.copy()
    for _ in range(30 if scene.deform else 1):
        v = u - _sine(v, t, scene)
    a, b = _similarity(t, scene, tex_centre)
    return (v - b) @ np.linalg.inv(a).T


def _alpha(u: np.ndarray, scene: _Scene, tex_centre: np.ndarray) -> np.ndarray:
    """Soft elliptic cut-out in texture coordinates (1 inside, 0 outside, a ramp EDGE_PX wide)."""
    s = _tex_scale(scene)
    rx, ry = 0.17 * scene.width * s, 0.2 * scene.height * s
    r = np.hypot((u[..., 0] - tex_centre[0]) / rx, (u[..., 1] - tex_centre[1]) / ry)
    return np.clip(0.5 + (1.0 - r) * (0.2 * scene.height) / EDGE_PX, 0.0, 1.0).astype(np.float32)


def _background(photo: np.ndarray, t: int, scene: _Scene) -> np.ndarray:
    s = _bg_scale(scene)
    offset = np.array([236.0, 256.0]) - s * np.array([scene.width, scene.height]) / 2
    m = np.array([[s, 0.0, offset[0]], [0.0, s, offset[1]]])
    m[:, 2] += s * scene.pan() * t
    return cv2.warpAffine(
        photo,
        m,
        (scene.width, scene.height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )


def _sample(image: np.ndarray, at: np.ndarray) -> np.ndarray:
    xs, ys = at[..., 0].astype(np.float32), at[..., 1].astype(np.float32)
    return cv2.remap(image, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _labels(
    alpha: np.ndarray, prev_alpha: np.ndarray, scene: _Scene
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    h, w = alpha.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (float(v) for v in scene.pan())
    px, py = xs + dx, ys + dy  # the background's place at t-1
    subject = alpha >= 0.5
    outside = (px < -0.5) | (px > w - 0.5) | (py < -0.5) | (py > h - 0.5)
    entering = ~subject & outside
    was_covered = cv2.remap(prev_alpha, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    uncovered = ~subject & ~entering & (was_covered > 0.02)
    background = ~(subject | entering | uncovered)
    trusted = ((alpha > 0.98) | (alpha < 0.02)) & ~uncovered & ~entering
    regions = {SUBJECT: subject, UNCOVERED: uncovered, ENTERING: entering, BACKGROUND: background}
    return regions, trusted


def subject_clip(n: int, height: int, width: int, *, deform: bool = False) -> SubjectClip:
    """``n`` frames of the moving, turning (and with ``deform`` bending) subject over the
    panning background, with exact backward flows, labels and trusted masks."""
    if n < 1 or height < 16 or width < 16:
        raise ValueError(f"need n >= 1 and a frame of at least 16x16, got {n}, {height}x{width}")
    scene = _Scene(height, width, deform)
    photo, texture = _photos(scene)
    tex_centre = np.array([texture.shape[1] * 0.53, texture.shape[0] * 0.46])  # the face
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    p = np.stack([xs, ys], axis=-1)
    clip = SubjectClip([], [], [], [])
    prev_alpha = None
    for t in range(n):
        u = _to_texture(p, t, scene, tex_centre)
        alpha = _alpha(u, scene, tex_centre)
        a3 = alpha[..., None]
        subject = _sample(texture, u).astype(np.float32)
        frame = a3 * subject + (1 - a3) * _background(photo, t, scene).astype(np.float32)
        clip.frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        if prev_alpha is None:
            clip.flows.append(None)
            clip.regions.append(None)
            clip.trusted.append(None)
        else:
            subject_flow = _from_texture(u, t - 1, scene, tex_centre) - p
            flow = np.where((alpha >= 0.5)[..., None], subject_flow, scene.pan()[None, None])
            clip.flows.append(flow.astype(np.float32))
            regions, trusted = _labels(alpha, prev_alpha, scene)
            clip.regions.append(regions)
            clip.trusted.append(trusted)
        prev_alpha = alpha
    return clip
