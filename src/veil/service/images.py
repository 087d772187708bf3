"""Detection on single images for DetectFaces and DetectCustomLabels: models loaded once per process."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import cv2
import numpy as np

from veil.detect import FACE, PLATE, Detections, Detector, build_detectors
from veil.service.errors import InvalidImageFormatException


def decode_image(data: bytes) -> np.ndarray:
    """An ``(H, W, 3)`` RGB image from PNG or JPEG bytes."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise InvalidImageFormatException("Request has invalid image format")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageDetectors:
    """One face and one plate detector, built on first use and shared by every request.

    A detector runs one image at a time (its lock); the two classes run in parallel.
    """

    def __init__(self, *, face_threshold: float | None = None, plate_threshold: float | None = None, threads: int | None = None) -> None:
        self._options = {"face_threshold": face_threshold, "plate_threshold": plate_threshold, "threads": threads}
        self._detectors: dict[str, Detector] = {}
        self._locks = {FACE: threading.Lock(), PLATE: threading.Lock()}

    def _detector(self, class_name: str) -> Detector:
        """The detector of ``class_name``; the caller holds its lock."""
        if class_name not in self._detectors:
            (self._detectors[class_name],) = build_detectors([class_name], **self._options)
        return self._detectors[class_name]

    def detect(self, class_name: str, image: np.ndarray) -> Detections:
        with self._locks[class_name]:
            return self._detector(class_name).detect(image)

    def warm_up(self, classes: Sequence[str]) -> None:
        """Load the models now rather than on the first request."""
        for name in classes:
            with self._locks[name]:
                self._detector(name)
