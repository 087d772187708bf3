from __future__ import annotations

import numpy as np
import pytest

from veil.detect import (
    CenterFaceDetector,
    DetectorSettings,
    YoloPlateDetector,
    build_detectors,
    default_model_path,
    load_session,
)
from veil.detect.centerface import DEFAULT_FACE_THRESHOLD
from veil.errors import ConfigError, ModelError
from veil.records import FACE, PLATE

DETECTORS = [CenterFaceDetector, YoloPlateDetector]


@pytest.mark.parametrize("cls", DETECTORS)
def test_missing_model_file(cls, tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=r"model file not found: .*nope\.onnx") as info:
        cls(model_path=missing)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls", DETECTORS)
def test_malformed_model_file(cls, tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError, match=r"cannot load model .*garbage\.onnx") as info:
        cls(model_path=bad)
    assert "\n" not in str(info.value)


def test_load_session_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_session(tmp_path / "x.onnx", None)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match=r"empty\.onnx"):
        load_session(tmp_path / "empty.onnx", None)
    assert load_session(default_model_path(PLATE), 1).get_inputs()[0].name == "images"


def test_plate_model_as_face_model():
    with pytest.raises(ModelError, match=r"platedet\.onnx: not a CenterFace-style model .*4 outputs"):
        CenterFaceDetector(model_path=default_model_path(PLATE))


def test_face_model_as_plate_model():
    with pytest.raises(ModelError, match=r"centerface\.onnx: not a YOLOv8-style model"):
        YoloPlateDetector(model_path=default_model_path(FACE))


def test_unknown_default_class():
    with pytest.raises(ModelError, match="no default model for class 'car'"):
        default_model_path("car")


class _Broken:
    """A session whose run fails the way ONNX Runtime does."""

    def run(self, names, feed):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : out of memory\nmore")


class _WrongShape:
    def __init__(self, outputs):
        self.outputs = outputs

    def run(self, names, feed):
        return self.outputs


@pytest.fixture(scope="module")
def detectors():
    return {FACE: CenterFaceDetector(threads=1), PLATE: YoloPlateDetector(threads=1)}


@pytest.mark.parametrize("name", [FACE, PLATE])
def test_failing_session_raises_model_error(detectors, name, monkeypatch):
    detector = detectors[name]
    monkeypatch.setattr(detector, "_session", _Broken())
    with pytest.raises(ModelError, match=r"failed on a frame: .*out of memory$"):
        detector.detect(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize(
    ("name", "outputs"),
    [
        (FACE, [np.zeros((1, 1, 4, 4), np.float32)] * 3),
        (FACE, [np.zeros((1, 1, 4, 4), np.float32)] * 4),
        (PLATE, [np.zeros((1, 8400), np.float32)]),
    ],
)
def test_unexpected_outputs_raise_model_error(detectors, name, outputs, monkeypatch):
    detector = detectors[name]
    monkeypatch.setattr(detector, "_session", _WrongShape(outputs))
    with pytest.raises(ModelError):
        detector.detect(np.zeros((64, 64, 3), np.uint8))


def test_non_finite_scores_raise_model_error(detectors, monkeypatch):
    detector = detectors[PLATE]
    head = np.zeros((1, 65, 2, 2), np.float32)  # 64 box bins + 1 class, at stride 32
    head[0, :64] = np.nan
    head[0, 64] = 5.0  # a confident plate
    monkeypatch.setattr(detector, "_session", _WrongShape([head]))
    with pytest.raises(ModelError, match="non-finite"):
        detector.detect(np.zeros((64, 64, 3), np.uint8))


def test_build_detectors():
    settings = DetectorSettings(classes=(FACE, PLATE, FACE), face_threshold=0.4, plate_threshold=0.6, threads=1)
    face, plate = build_detectors(settings)
    assert isinstance(face, CenterFaceDetector) and face.threshold == 0.4
    assert isinstance(plate, YoloPlateDetector) and plate.threshold == 0.6
    (default,) = build_detectors(DetectorSettings(classes="face"))
    assert default.threshold == DEFAULT_FACE_THRESHOLD
    with pytest.raises(ValueError, match="unknown class 'car'"):
        DetectorSettings(classes=("car",))
    with pytest.raises(ConfigError, match="unknown class 'car'"):
        settings.model_of("car")
