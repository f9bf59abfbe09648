"""Clips with known motion built from real photos (skimage.data, available offline)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import skimage.data


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Three real RGB photos, uint8."""
    return {
        "astronaut": skimage.data.astronaut(),
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
    }


def _affine(image: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    dst = cv2.warpAffine(
        image, m.astype(np.float32), (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    nx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    ny = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return dst, np.dstack([nx - xs, ny - ys]).astype(np.float32)


@pytest.fixture(scope="session")
def affine_pair() -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(image, M) -> (warpAffine(image, M), exact flow image -> result)``.

    cv2.warpAffine moves the content at p to M @ p, so the exact flow is ``M @ p - p``.
    """
    return _affine


@pytest.fixture(scope="session")
def motions() -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Affine matrices about the image centre: subpixel pan, 3% zoom, 1.5 degree rotation."""

    def make(image: np.ndarray) -> dict[str, np.ndarray]:
        h, w = image.shape[:2]
        c = (w / 2 - 0.5, h / 2 - 0.5)
        return {
            "pan": np.array([[1.0, 0.0, 2.37], [0.0, 1.0, -1.62]]),
            "zoom": cv2.getRotationMatrix2D(c, 0.0, 1.03),
            "rotation": cv2.getRotationMatrix2D(c, 1.5, 1.0),
        }

    return make


@pytest.fixture(scope="session")
def pan_clip(photos: dict[str, np.ndarray]) -> Callable[[int, int, int], list[np.ndarray]]:
    """``(n, dx, dy) -> n`` crops of 160x224 sliding over the astronaut by (dx, dy) per frame."""

    def make(n: int, dx: int, dy: int) -> list[np.ndarray]:
        img = photos["astronaut"]
        return [
            np.ascontiguousarray(
                img[40 + i * dy : 40 + i * dy + 160, 40 + i * dx : 40 + i * dx + 224]
            )
            for i in range(n)
        ]

    return make
