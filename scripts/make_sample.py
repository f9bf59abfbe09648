"""Build the sample clips in ``samples/``: synthetic camera moves over real public-domain photos,
with a generated stereo AAC soundtrack, so a first run has motion and audio to work on.

- ``rocket-tilt.mp4`` (the demo): 640x360, 3.5 s at 24 fps. A slow, eased pull-back and tilt
  from the pad lights to a whole Falcon 9 on its pad at dusk, with a faint hand-held wobble; a
  soft two-tone chord. Photo: ``skimage.data.rocket()`` (DSCOVR launch, SpaceX, released into
  the public domain).
- ``astronaut-pan.mp4`` (benchmarks): 320x180, 2 s. A zoom-in with a diagonal pan and a slight
  roll; a 330 Hz tone. Photo: ``skimage.data.astronaut()`` (Eileen Collins, NASA, public
  domain).

Run: ``.venv/bin/python scripts/make_sample.py [NAME [OUT]]`` (no NAME: every sample, into
``samples/``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

RATE = 48000  # audio sample rate


@dataclass(frozen=True)
class Sample:
    """One clip: its photo, size, length, camera (frame at t in [0, 1]), chord and quality."""

    photo: Callable[[], np.ndarray]
    size: tuple[int, int]
    frames: int
    camera: Callable[[np.ndarray, float, tuple[int, int]], np.ndarray]
    tones: tuple[float, ...]
    crf: int
    fps: int = 24


def pan_zoom_roll(photo: np.ndarray, t: float, size: tuple[int, int]) -> np.ndarray:
    """A slow zoom-in with a diagonal pan and a slight roll, at time ``t`` in [0, 1]."""
    width, height = size
    h, w = photo.shape[:2]
    zoom = 1.0 + 0.25 * t
    angle = 3.0 * t
    cx, cy = w * (0.45 + 0.1 * t), h * (0.40 + 0.08 * t)
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom * width / (w * 0.8))
    m[0, 2] += width / 2 - cx
    m[1, 2] += height / 2 - cy
    return cv2.warpAffine(photo, m, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def tilt_up_pull_back(photo: np.ndarray, t: float, size: tuple[int, int]) -> np.ndarray:
    """Eased pull-back (1.25x to 1x) from the pad lights to the whole rocket, tilting up and
    drifting left, with a wobble of about a pixel (0.7 and 1.1 Hz); never leaves the photo."""
    width, height = size
    h, w = photo.shape[:2]
    ease = t * t * (3 - 2 * t)  # smoothstep: the move starts and ends at rest
    scale = width / w * (1.25 - 0.25 * ease)  # output pixels per photo pixel
    half_w, half_h = width / scale / 2, height / scale / 2
    wobble_x, wobble_y = 1.2 * np.sin(15.4 * t), 0.9 * np.sin(24.2 * t + 1.0)  # output px
    cx = w * (0.54 - 0.04 * ease) + wobble_x / scale
    cy = (h - half_h - 2) * (1 - ease) + (h - 185) * ease + wobble_y / scale
    cx, cy = float(np.clip(cx, half_w, w - half_w)), float(np.clip(cy, half_h, h - half_h))
    m = np.array([[scale, 0, width / 2 - scale * cx], [0, scale, height / 2 - scale * cy]])
    return cv2.warpAffine(photo, m, size, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)


SAMPLES = {
    "rocket-tilt": Sample(data.rocket, (640, 360), 84, tilt_up_pull_back, (220.0, 330.0), 20),
    "astronaut-pan": Sample(data.astronaut, (320, 180), 48, pan_zoom_roll, (330.0,), 16),
}


def soundtrack(tones: tuple[float, ...], samples: int) -> np.ndarray:
    """``(samples,)`` float32: quiet sines, faded in over 0.25 s (and out, for chords)."""
    t = np.arange(samples) / RATE
    wave = sum(np.sin(2 * np.pi * f * t) for f in tones) * (0.1 / len(tones))
    fade = np.minimum(1, t * 4)
    if len(tones) > 1:
        fade = np.minimum(fade, (samples / RATE - t) * 4)
    return (wave * fade).astype(np.float32)


def write_sample(sample: Sample, out: Path) -> None:
    """Encode ``sample`` as H.264 (yuv420p) + stereo AAC into ``out``."""
    photo = sample.photo()
    with av.open(str(out), "w") as container:
        video = container.add_stream("libx264", rate=sample.fps, options={"crf": str(sample.crf)})
        video.width, video.height = sample.size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=RATE)
        audio.layout = "stereo"
        for i in range(sample.frames):
            rgb = sample.camera(photo, i / (sample.frames - 1), sample.size)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        total = sample.frames * RATE // sample.fps
        tone = soundtrack(sample.tones, total)
        for start in range(0, total, 1024):
            chunk = tone[start : start + 1024]
            af = av.AudioFrame.from_ndarray(
                np.stack([chunk, chunk]), format="fltp", layout="stereo"
            )
            af.sample_rate, af.pts = RATE, start
            for packet in audio.encode(af):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)


def main(argv: list[str]) -> None:
    if argv and argv[0] not in SAMPLES:
        sys.exit(f"make_sample.py: NAME must be one of {', '.join(SAMPLES)}, got {argv[0]!r}")
    names = argv[:1] or list(SAMPLES)
    for name in names:
        out = Path(argv[1]) if len(argv) > 1 else Path("samples") / f"{name}.mp4"
        write_sample(SAMPLES[name], out)


if __name__ == "__main__":
    main(sys.argv[1:])
