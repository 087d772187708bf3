"""Which frames the detectors see: every Nth, every cut, every big change."""

from __future__ import annotations

import cv2
import numpy as np

from veil.pipeline.schedule import LookSchedule, ScheduleSettings
from veil.samples import skimage_photo


def panned(photo: np.ndarray, shift: int, size: tuple[int, int] = (320, 180)) -> np.ndarray:
    """A camera panning slowly over ``photo``: a crop moved ``shift`` pixels right."""
    return np.ascontiguousarray(cv2.resize(photo, (400, 240))[20 : 20 + size[1], shift : shift + size[0]])


def decisions(frames: list[np.ndarray], every: int) -> tuple[list[int], list[int]]:
    schedule = LookSchedule(ScheduleSettings(detect_every=every))
    looks = [schedule.decide(index, frame) for index, frame in enumerate(frames)]
    return [i for i, look in enumerate(looks) if look.detect], [i for i, look in enumerate(looks) if look.cut]


def test_every_nth_frame_of_a_slow_shot_and_the_first_frame_of_a_new_shot() -> None:
    coffee, astronaut = skimage_photo("coffee.png"), skimage_photo("astronaut.png")
    frames = [panned(coffee, i) for i in range(11)] + [panned(astronaut, i) for i in range(6)]
    detected, cuts = decisions(frames, every=4)
    assert cuts == [11], "the one change of shot, and nothing in the slow pan, is a cut"
    assert detected == [0, 4, 8, 11, 12, 16]


def test_a_picture_that_drifts_far_from_the_last_look_is_looked_at() -> None:
    coffee = skimage_photo("coffee.png")
    frames = [panned(coffee, 6 * i) for i in range(12)]  # a fast pan: no cut, but a new picture soon
    detected, cuts = decisions(frames, every=100)
    assert cuts == []
    assert detected[0] == 0 and len(detected) >= 2, "the pan is looked at again before 100 frames"
    schedule = LookSchedule(ScheduleSettings(detect_every=100))
    looks = [schedule.decide(index, frame) for index, frame in enumerate(frames)]
    assert [i for i, look in enumerate(looks) if look.detect and not look.regular] == detected[1:], (
        "a look the change alone brings is not a regular one (the detectors that glance skip it)"
    )


def test_decisions_depend_only_on_recent_frames_so_segments_agree() -> None:
    """A run started later (a segment's margin) makes the single pass's decisions after its first look."""
    coffee, astronaut = skimage_photo("coffee.png"), skimage_photo("astronaut.png")
    frames = [panned(coffee, i) for i in range(13)] + [panned(astronaut, i) for i in range(10)]
    whole = LookSchedule(ScheduleSettings(detect_every=4))
    late = LookSchedule(ScheduleSettings(detect_every=4))
    full = [whole.decide(i, f) for i, f in enumerate(frames)]
    part = [late.decide(i, frames[i]) for i in range(5, len(frames))]
    assert part[3:] == full[8:]


def test_close_looks_at_every_close_every_th_frame_each_cut_and_the_first_the_rest_glance() -> None:
    coffee, astronaut = skimage_photo("coffee.png"), skimage_photo("astronaut.png")
    frames = [panned(coffee, i) for i in range(11)] + [panned(astronaut, i) for i in range(6)]
    schedule = LookSchedule(ScheduleSettings(detect_every=4, close_every=8))
    looks = [schedule.decide(index, frame) for index, frame in enumerate(frames)]
    assert [i for i, look in enumerate(looks) if look.detect] == [0, 4, 8, 11, 12, 16]
    assert [i for i, look in enumerate(looks) if look.detect and look.close] == [0, 8, 11, 16]
