from __future__ import annotations

import cv2
import numpy as np
import pytest
from detect_helpers import ASTRONAUT_FACE, iou

from veil.detect import CenterFaceDetector, Detector, default_model_path
from veil.records import FACE
from veil.samples import skimage_photo


def test_finds_the_astronauts_face(face_detector, astronaut):
    found = face_detector.detect(astronaut)
    assert isinstance(face_detector, Detector)
    assert len(found) == 1
    x1, y1, x2, y2 = found.boxes[0]
    assert 170 <= x1 < x2 <= 290 and 20 <= y1 < y2 <= 190
    assert iou(found.boxes[0], ASTRONAUT_FACE) > 0.7
    assert found.scores[0] > 0.8
    assert list(found.classes) == [FACE]
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32


@pytest.mark.parametrize("size", [128, 64])  # the face ends up ~30 and ~15 px tall
def test_finds_a_small_face_pasted_into_a_big_frame(face_detector, astronaut, size):
    frame = _texture((720, 1280))
    x0, y0 = 701, 333  # deliberately not multiples of 32
    frame[y0 : y0 + size, x0 : x0 + size] = cv2.resize(astronaut, (size, size), interpolation=cv2.INTER_AREA)
    found = face_detector.detect(frame)
    k = size / 512
    expected = (
        x0 + ASTRONAUT_FACE[0] * k,
        y0 + ASTRONAUT_FACE[1] * k,
        x0 + ASTRONAUT_FACE[2] * k,
        y0 + ASTRONAUT_FACE[3] * k,
    )
    assert len(found) >= 1
    assert max(iou(b, expected) for b in found.boxes) > 0.5


def test_max_side_downscales_and_maps_boxes_back(astronaut):
    detector = CenterFaceDetector(max_side=512)
    frame = _texture((1080, 1920))
    frame[200:712, 1000:1512] = astronaut
    assert detector.input_size(1920, 1080) == (512 / 1920, 512, 288)
    found = detector.detect(frame)
    expected = np.add(ASTRONAUT_FACE, (1000, 200, 1000, 200))
    best = int(np.argmax(found.scores))
    assert iou(found.boxes[best], expected) > 0.6 and found.scores[best] > 0.5


def test_any_image_size_works_and_boxes_are_clipped(face_detector, astronaut):
    # The face (rows 58-178) loses its lower part below row 150: its box would reach past the bottom edge.
    cut = np.ascontiguousarray(astronaut[70:150, 150:300])
    found = face_detector.detect(cut)
    assert len(found) == 1
    h, w = cut.shape[:2]
    assert (found.boxes >= 0).all() and (found.boxes[:, 0::2] <= w).all() and (found.boxes[:, 1::2] <= h).all()
    assert found.boxes[0, 3] == h
    assert len(face_detector.detect(np.zeros((7, 5, 3), np.uint8))) == 0


@pytest.mark.parametrize("name", ["brick.png", "grass.png", "gravel.png"])
def test_does_not_fire_on_plain_texture(face_detector, name):
    frame = cv2.resize(skimage_photo(name), (640, 480), interpolation=cv2.INTER_AREA)
    found = face_detector.detect(frame)
    # At the recall-first default (0.1) brick and grass draw one weak box each
    # (fp32 0.10 and 0.17, int8 0.13 and 0.16): a small false positive, never a large one.
    assert len(found) <= 1 and (found.scores < 0.2).all()
    assert ((found.boxes[:, 2:] - found.boxes[:, :2]) < 64).all()
    assert len(CenterFaceDetector(threshold=0.2).detect(frame)) == 0


def test_does_not_fire_on_a_smooth_grey_background(face_detector):
    assert len(face_detector.detect(_texture((720, 1280)))) == 0


def test_scores_respect_the_threshold(astronaut):
    low = CenterFaceDetector(threshold=0.05)
    found = low.detect(_texture((480, 640)) | 0)
    assert (found.scores >= 0.05).all()
    assert len(CenterFaceDetector(threshold=0.95).detect(astronaut)) == 0


def test_explicit_model_path_is_the_same_model(astronaut, face_detector):
    path = default_model_path(FACE)
    explicit = CenterFaceDetector(model_path=path, threads=1)
    assert explicit.model_path == path
    assert explicit._session.get_session_options().intra_op_num_threads == 1
    found, expected = explicit.detect(astronaut), face_detector.detect(astronaut)
    np.testing.assert_allclose(found.boxes, expected.boxes, atol=1e-3)


def test_rejects_images_that_are_not_rgb_uint8(face_detector):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        face_detector.detect(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        face_detector.detect(np.zeros((32, 32, 3), np.float32))


def _texture(shape: tuple[int, int]) -> np.ndarray:
    """A grey, softly noisy background."""
    rng = np.random.default_rng(7)
    noise = rng.normal(110, 25, (*shape, 3)).clip(0, 255).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)
