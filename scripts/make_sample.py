"""Build ``samples/astronaut-pan.mp4``: a 2-second 320x180 camera move over a real photo, with
a stereo AAC tone, so the README demo has a clip with motion and audio.

The photo is ``skimage.data.astronaut()`` (Eileen Collins, NASA, public domain). Run:
``.venv/bin/python scripts/make_sample.py [OUT]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

WIDTH, HEIGHT, FPS, FRAMES = 320, 180, 24, 48


def camera(photo: np.ndarray, t: float) -> np.ndarray:
    """A slow zoom-in with a diagonal pan and a slight roll, at time ``t`` in [0, 1]."""
    h, w = photo.shape[:2]
    zoom = 1.0 + 0.25 * t
    angle = 3.0 * t
    cx, cy = w * (0.45 + 0.1 * t), h * (0.40 + 0.08 * t)
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom * WIDTH / (w * 0.8))
    m[0, 2] += WIDTH / 2 - cx
    m[1, 2] += HEIGHT / 2 - cy
    return cv2.warpAffine(
        photo, m, (WIDTH, HEIGHT), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )


def main(out: Path) -> None:
    photo = data.astronaut()
    with av.open(str(out), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"crf": "16"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(camera(photo, i / (FRAMES - 1)), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        samples = FRAMES * 48000 // FPS
        for start in range(0, samples, 1024):
            n = min(1024, samples - start)
            t = np.arange(start, start + n) / 48000.0
            tone = (0.1 * np.sin(2 * np.pi * 330 * t) * np.minimum(1, t * 4)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, start
            for packet in audio.encode(af):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("samples/astronaut-pan.mp4"))
