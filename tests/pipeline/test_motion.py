"""The camera's shift frame to frame, measured on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from veil.pipeline.motion import NO_SHIFT, CameraMotion
from veil.samples import sample_frame, skimage_photo

SCENE = sample_frame(0, (1280, 720))


def view(left: int, top: int, size: tuple[int, int] = (1120, 630)) -> np.ndarray:
    """What a camera pointed at (left, top) of the scene sees."""
    return np.ascontiguousarray(SCENE[top : top + size[1], left : left + size[0]])


@pytest.mark.parametrize(("pan", "tilt"), [(0, 0), (3, 0), (-12, 7), (30, -20), (55, 40)])
def test_a_camera_move_is_measured_to_within_two_pixels(pan: int, tilt: int) -> None:
    motion = CameraMotion()
    assert motion.measure(view(60, 45)) == NO_SHIFT, "the first frame has nothing to move from"
    dx, dy = motion.measure(view(60 + pan, 45 + tilt))
    # The camera turning right moves the picture's content left.
    assert abs(dx + pan) <= 2 and abs(dy + tilt) <= 2, (dx, dy)


def test_each_frame_is_measured_against_the_one_before() -> None:
    motion = CameraMotion()
    shifts = [motion.measure(view(60 + 8 * step, 45)) for step in range(4)]
    assert shifts[0] == NO_SHIFT
    for dx, dy in shifts[1:]:
        assert abs(dx + 8) <= 2 and abs(dy) <= 2


def test_a_portrait_frame_is_measured_in_its_own_pixels() -> None:
    upright = np.ascontiguousarray(np.rot90(SCENE))  # 720 x 1280
    motion = CameraMotion()
    motion.measure(upright[50:1170, 40:670])
    dx, dy = motion.measure(upright[50 + 20 : 1170 + 20, 40 - 9 : 670 - 9])
    assert abs(dx - 9) <= 2 and abs(dy + 20) <= 2, (dx, dy)


def test_a_cut_or_a_blank_frame_counts_as_no_shift() -> None:
    """Phase correlation always names a peak; between unrelated pictures it is too weak to trust."""
    cat = cv2.resize(skimage_photo("chelsea.png"), (640, 360), interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(skimage_photo("coffee.png"), (640, 360), interpolation=cv2.INTER_AREA)
    motion = CameraMotion()
    for image in (cat, coffee, np.zeros_like(cat), np.zeros_like(cat), cat):
        assert motion.measure(image) == NO_SHIFT
