"""veil.detect: models that find faces and plates in one RGB frame.

Every detector follows the ``Detector`` protocol: ``detect(image) -> Detections``
(``veil.records.Detections``) on an ``(H, W, 3)`` uint8 RGB image, boxes in that
image's pixels. A detector that can also ``glance`` (``Glancer``: the plate
detector) gets a cheaper look at most of a video's looks. Model files are located
in installed distributions (no downloads); a missing or broken model, or a model
that fails on a frame, raises ``ModelError``. ``DetectorSettings`` and
``DetectorPool`` are light; the model runtime (ONNX Runtime, OpenCV) loads when a
detector is first named or built.
"""

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports
from veil.detect.pool import POOL, DetectorPool
from veil.detect.settings import DetectorSettings

if TYPE_CHECKING:
    from veil.detect.base import Detector, Glancer
    from veil.detect.centerface import CenterFaceDetector
    from veil.detect.factory import build_detector, build_detectors
    from veil.detect.weights import default_model_path, load_session
    from veil.detect.yolo import YoloPlateDetector

__all__ = [
    "POOL",
    "CenterFaceDetector",
    "Detector",
    "DetectorPool",
    "DetectorSettings",
    "Glancer",
    "YoloPlateDetector",
    "build_detector",
    "build_detectors",
    "default_model_path",
    "load_session",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Detector": "veil.detect.base",
        "Glancer": "veil.detect.base",
        "CenterFaceDetector": "veil.detect.centerface",
        "YoloPlateDetector": "veil.detect.yolo",
        "build_detector": "veil.detect.factory",
        "build_detectors": "veil.detect.factory",
        "default_model_path": "veil.detect.weights",
        "load_session": "veil.detect.weights",
    },
)
