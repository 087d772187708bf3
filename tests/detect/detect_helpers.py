"""Helpers shared by the detect tests (no data outside the installed packages)."""

from __future__ import annotations

import importlib.resources

import cv2
import numpy as np


# The astronaut photo (public domain, NASA) shipped with scikit-image: 512x512,
# one frontal face. The face box CenterFace finds, checked by eye.
ASTRONAUT_FACE = (181.0, 58.0, 270.0, 178.0)


def skimage_image(name: str) -> np.ndarray:
    """An image shipped inside scikit-image's package data, as (H, W, 3) uint8 RGB."""
    path = importlib.resources.files("skimage") / "data" / name
    with importlib.resources.as_file(path) as file:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union
