from __future__ import annotations

import numpy as np
import pytest

from veil.detect import CenterFaceDetector, YoloPlateDetector
from veil.samples import skimage_photo


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage_photo("astronaut.png")


@pytest.fixture(scope="session")
def face_detector() -> CenterFaceDetector:
    return CenterFaceDetector()


@pytest.fixture(scope="session")
def plate_detector() -> YoloPlateDetector:
    return YoloPlateDetector()
