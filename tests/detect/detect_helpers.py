"""Helpers shared by the detect tests (no data outside the installed packages).

Photos come from ``veil.samples.skimage_photo`` (scikit-image's package data)."""

from __future__ import annotations

# The astronaut photo (public domain, NASA) shipped with scikit-image: 512x512,
# one frontal face. The face box CenterFace finds, checked by eye.
ASTRONAUT_FACE = (181.0, 58.0, 270.0, 178.0)


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union
