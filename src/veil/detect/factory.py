"""Building the detectors a job asks for."""

from __future__ import annotations

from veil.detect.base import Detector
from veil.detect.centerface import CenterFaceDetector
from veil.detect.settings import DetectorSettings
from veil.detect.yolo import YoloPlateDetector
from veil.records import FACE


def build_detector(settings: DetectorSettings, class_name: str) -> Detector:
    """A new detector of ``class_name`` (``face`` or ``plate``) as ``settings`` describe it."""
    model, threshold = settings.model_of(class_name)
    kind = CenterFaceDetector if class_name == FACE else YoloPlateDetector
    return kind(model, threshold=threshold, threads=settings.threads, precision=settings.precision)


def build_detectors(settings: DetectorSettings) -> list[Detector]:
    """New detectors, one per class of ``settings``, in its order (see :class:`~veil.detect.pool.DetectorPool`
    to load them once per process)."""
    return [build_detector(settings, name) for name in settings.classes]
