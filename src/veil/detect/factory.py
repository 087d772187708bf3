"""Building the detectors a job asks for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from veil.detect.base import Detector
from veil.detect.centerface import CenterFaceDetector
from veil.detect.detections import CLASSES, FACE, PLATE
from veil.detect.yolo import YoloPlateDetector
from veil.errors import ConfigError


def build_detectors(
    classes: Sequence[str],
    *,
    face_model: Path | None = None,
    plate_model: Path | None = None,
    face_threshold: float | None = None,
    plate_threshold: float | None = None,
    threads: int | None = None,
    face_max_side: int | None | type[...] = ...,
) -> list[Detector]:
    """One detector per requested class, in the order asked; ``None`` means the default.

    ``face_max_side`` is left at the detector's default unless given (``None`` there
    means "never downscale").
    """
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ConfigError(f"unknown class {unknown[0]!r}: choose from {', '.join(CLASSES)}")
    detectors: list[Detector] = []
    for name in dict.fromkeys(classes):  # each class once, order kept
        if name == FACE:
            options: dict = {"threads": threads}
            if face_threshold is not None:
                options["threshold"] = face_threshold
            if face_max_side is not ...:
                options["max_side"] = face_max_side
            detectors.append(CenterFaceDetector(face_model, **options))
        elif name == PLATE:
            options = {"threads": threads}
            if plate_threshold is not None:
                options["threshold"] = plate_threshold
            detectors.append(YoloPlateDetector(plate_model, **options))
    return detectors
