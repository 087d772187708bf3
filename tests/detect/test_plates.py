from __future__ import annotations

import cv2
import numpy as np
import pytest
from detect_helpers import iou

from veil.detect import Detector, YoloPlateDetector, default_model_path
from veil.records import PLATE
from veil.samples import render_plate, skimage_photo


def render_scene(
    background: str = "coffee.png",
    color: tuple[int, int, int] = (240, 240, 235),
    width: int = 190,
    tilt: float = 0.0,
    text: str = "AB 123 CD",
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A 1280x720 camera-like frame (a photo shipped with scikit-image) with a plate, and its box.

    The plate model ignores plates drawn on flat synthetic "cars" (scores ~0.05):
    it wants natural context around the plate and camera-like blur, noise and
    JPEG artefacts, and a plate about as big as in road footage (~15 % of the width).
    """
    frame = cv2.resize(skimage_photo(background), (1280, 720), interpolation=cv2.INTER_LINEAR)
    plate = render_plate(text, width, color)
    ph, pw = plate.shape[:2]
    x, y = (1280 - pw) // 2, 500
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    d = tilt * ph
    dst = np.float32([[x, y + d], [x + pw, y - d], [x + pw, y + ph - d], [x, y + ph + d]])
    cv2.warpPerspective(
        plate, cv2.getPerspectiveTransform(src, dst), (1280, 720), dst=frame, borderMode=cv2.BORDER_TRANSPARENT
    )
    frame = cv2.GaussianBlur(frame, (0, 0), 1.0)
    noise = np.random.default_rng(0).normal(0, 6, frame.shape)
    frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
    _ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
    frame = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    box = (float(dst[:, 0].min()), float(dst[:, 1].min()), float(dst[:, 0].max()), float(dst[:, 1].max()))
    return frame, box


@pytest.fixture(scope="module")
def low_plate_detector() -> YoloPlateDetector:
    return YoloPlateDetector(threshold=0.1)


@pytest.mark.parametrize(
    ("background", "color", "tilt"),
    [
        ("coffee.png", (240, 240, 235), 0.0),
        ("chelsea.png", (250, 205, 20), 0.0),
        ("chelsea.png", (240, 240, 235), 0.1),
    ],
)
def test_finds_a_rendered_plate(low_plate_detector, background, color, tilt):
    image, box = render_scene(background, color, tilt=tilt)
    found = low_plate_detector.detect(image)
    assert isinstance(low_plate_detector, Detector)
    assert len(found) >= 1
    assert max(iou(b, box) for b in found.boxes) > 0.5
    assert set(found.classes) == {PLATE}
    assert (found.scores >= 0.1).all()


def test_plain_grey_frame_has_no_plates(plate_detector):
    assert len(plate_detector.detect(np.full((720, 1280, 3), 128, np.uint8))) == 0


def test_letterbox_maps_boxes_back_from_a_tall_image(low_plate_detector):
    image, box = render_scene()
    tall = np.full((1000, 720, 3), 128, np.uint8)  # padded left and right by the letterbox
    tall[150:870] = image[:, 280:1000]
    expected = (box[0] - 280, box[1] + 150, box[2] - 280, box[3] + 150)
    found = low_plate_detector.detect(tall)
    assert len(found) >= 1 and max(iou(b, expected) for b in found.boxes) > 0.5


def test_frames_run_whole_padded_right_and_below_at_each_size():
    from veil.detect.yolo import PAD_VALUE, padded_input

    frame = np.zeros((1080, 1920, 3), np.uint8)
    blob, scale = padded_input(frame, 1280)
    assert blob.shape == (1, 3, 736, 1280) and blob.dtype == np.float32 and scale == 1280 / 1920
    assert blob[0, :, 719, 0].max() == 0 and blob[0, 0, 720, 0] == np.float32(PAD_VALUE / 255)
    blob, scale = padded_input(np.zeros((360, 640, 3), np.uint8), 1280)
    assert blob.shape == (1, 3, 384, 640) and scale == 1.0, "never enlarged"


def test_explicit_model_path_is_the_same_model(low_plate_detector):
    path = default_model_path(PLATE)
    explicit = YoloPlateDetector(model_path=path, threshold=0.2, threads=1)
    image, _ = render_scene()
    found, expected = explicit.detect(image), low_plate_detector.detect(image)
    assert len(found) >= 1
    np.testing.assert_allclose(found.boxes, expected.boxes[expected.scores >= 0.2], atol=1e-2)


def test_boxes_from_a_shrunk_pass_map_back_to_frame_pixels(low_plate_detector):
    image, box = render_scene()
    large = cv2.resize(image, (2560, 1440), interpolation=cv2.INTER_LINEAR)  # shrunk 4x by the 640 pass
    expected = tuple(2 * v for v in box)
    found = low_plate_detector.detect(large)
    assert max(iou(b, expected) for b in found.boxes) > 0.5


def test_int8_and_fp32_models_find_the_same_plate(low_plate_detector):
    image, box = render_scene()
    exact = YoloPlateDetector(threshold=0.1, precision="fp32").detect(image)
    fast = low_plate_detector.detect(image)
    assert max(iou(b, box) for b in exact.boxes) > 0.5 and max(iou(b, box) for b in fast.boxes) > 0.5


def test_a_glance_is_the_smallest_scale_alone_and_still_finds_a_close_plate(low_plate_detector):
    """Video runs glance between close looks (veil.pipeline.schedule): one pass at 640 px instead of two."""
    image, box = render_scene()
    glanced = low_plate_detector.glance(image)
    one_scale = YoloPlateDetector(threshold=0.1, sides=(640,)).detect(image)
    np.testing.assert_array_equal(glanced.boxes, one_scale.boxes)
    assert low_plate_detector.sides == (640, 960)
    assert max(iou(b, box) for b in glanced.boxes) > 0.5
