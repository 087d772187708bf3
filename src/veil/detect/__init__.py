"""veil.detect: models that find faces and plates in one RGB frame.

Every detector follows the ``Detector`` protocol: ``detect(image) -> Detections``
on an ``(H, W, 3)`` uint8 RGB image, boxes in that image's pixels. Model files are
located in installed distributions (no downloads); a missing or broken model, or a
model that fails on a frame, raises ``ModelError``.
"""

from veil.detect.base import Detector
from veil.detect.centerface import CenterFaceDetector
from veil.detect.detections import CLASSES, FACE, PLATE, Detections
from veil.detect.factory import build_detectors
from veil.detect.weights import default_model_path, load_session
from veil.detect.yolo import YoloPlateDetector

__all__ = [
    "CLASSES",
    "FACE",
    "PLATE",
    "CenterFaceDetector",
    "Detections",
    "Detector",
    "YoloPlateDetector",
    "build_detectors",
    "default_model_path",
    "load_session",
]
