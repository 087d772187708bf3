"""Detection on single images for DetectFaces and DetectCustomLabels, with the process's shared detectors."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from veil.detect import POOL, DetectorPool, DetectorSettings
from veil.records import CLASSES, Detections
from veil.service.errors import InvalidImageFormatException


def decode_image(data: bytes) -> np.ndarray:
    """An ``(H, W, 3)`` RGB image from PNG or JPEG bytes."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise InvalidImageFormatException("Request has invalid image format")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageDetectors:
    """The face and plate detectors of ``settings`` from ``pool``, loaded on first use.

    A detector runs one image at a time (its lock), so concurrent requests do
    not oversubscribe the cores each model already uses; the two classes run in
    parallel.
    """

    def __init__(self, settings: DetectorSettings, pool: DetectorPool = POOL) -> None:
        self.settings = settings
        self._pool = pool
        self._locks = {name: threading.Lock() for name in CLASSES}

    def detect(self, class_name: str, image: np.ndarray) -> Detections:
        with self._locks[class_name]:
            return self._pool.detector(self.settings, class_name).detect(image)
