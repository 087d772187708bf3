"""Building the detectors a job asks for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from veil.detect.base import Detector
from veil.detect.centerface import DEFAULT_FACE_THRESHOLD, CenterFaceDetector
from veil.detect.detections import CLASSES, FACE
from veil.detect.optimize import Precision
from veil.detect.yolo import DEFAULT_PLATE_THRESHOLD, YoloPlateDetector
from veil.errors import ConfigError


def build_detectors(
    classes: Sequence[str],
    *,
    face_model: Path | None = None,
    plate_model: Path | None = None,
    face_threshold: float | None = None,
    plate_threshold: float | None = None,
    threads: int | None = None,
    precision: Precision = "int8",
) -> list[Detector]:
    """One detector per requested class, in the order asked; ``None`` means the default."""
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ConfigError(f"unknown class {unknown[0]!r}: choose from {', '.join(CLASSES)}")
    detectors: list[Detector] = []
    for name in dict.fromkeys(classes):  # each class once, order kept
        if name == FACE:
            threshold = DEFAULT_FACE_THRESHOLD if face_threshold is None else face_threshold
            detectors.append(CenterFaceDetector(face_model, threshold=threshold, threads=threads, precision=precision))
        else:
            threshold = DEFAULT_PLATE_THRESHOLD if plate_threshold is None else plate_threshold
            detectors.append(YoloPlateDetector(plate_model, threshold=threshold, threads=threads, precision=precision))
    return detectors
