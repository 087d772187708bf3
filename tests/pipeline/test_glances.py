"""Close looks and glances end to end: which frames each detector sees how, and what stays covered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import veil
from tests.media_factory import make_clip
from tests.segments.fakes import ColourSquares, UnseenByGlances
from veil.records import Detections

SIZE = (320, 192)
APPEARS = 1  # the square is there from the frame right after the first close look
FRAMES = 40


def square_from_frame_1(index: int) -> np.ndarray:
    """A still grey picture; from frame APPEARS on, a small green square (a plate) in the lower middle."""
    image = np.full((SIZE[1], SIZE[0], 3), 96, np.uint8)
    if index >= APPEARS:
        image[140:152, 150:174] = (30, 220, 30)
    return image


class CountingSquares(UnseenByGlances):
    """A plate only close looks find, which counts how often it looked closely and how often it glanced."""

    def __init__(self) -> None:
        super().__init__("plate", 1)
        self.close = self.glances = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.close += 1
        return super().detect(image)

    def glance(self, image: np.ndarray) -> Detections:
        self.glances += 1
        return super().glance(image)


def covered_frames(path: Path) -> list[int]:
    """The frames with a plate in the detections JSON (plates are CustomLabels in the Rekognition layout)."""
    return sorted({record["FrameIndex"] for record in json.loads(path.read_text())["CustomLabels"]})


def test_a_plate_only_close_looks_find_is_covered_from_its_first_frame(tmp_path: Path) -> None:
    """Close looks at frames 0, 16 and 32 and glances at 8 and 24 (the defaults: a look every 8th frame, a close
    one every 16th). The plate is there from frame 1 but first found at 16: the cover must reach back 15 frames,
    further than a glanced object's lead (4 + 7)."""
    source = make_clip(tmp_path / "in.mp4", size=SIZE, frames=FRAMES, content=square_from_frame_1, crf=18)
    plate = CountingSquares()
    detections = tmp_path / "d.json"
    report = veil.anonymize(source, tmp_path / "out.mp4", detectors=[plate], detections_path=detections)
    assert (plate.close, plate.glances) == (3, 2)
    assert report.detected_frames == 5
    assert set(range(APPEARS, FRAMES)) <= set(covered_frames(detections)), "every frame with the plate"


def test_a_detector_without_a_glance_looks_closely_every_time(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", size=SIZE, frames=FRAMES, content=square_from_frame_1, crf=18)
    detections = tmp_path / "d.json"
    report = veil.anonymize(
        source, tmp_path / "o.mp4", detectors=[ColourSquares("plate", 1)], detections_path=detections
    )
    assert report.detected_frames == 5
    assert set(range(APPEARS, FRAMES)) <= set(covered_frames(detections)), "every frame with the plate"


class CountingFaces(ColourSquares):
    """Finds the red square (never there): a detector without a glance, counting its looks."""

    def __init__(self) -> None:
        super().__init__("face", 0)
        self.looks = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.looks += 1
        return super().detect(image)


def brighter_from_frame_10(index: int) -> np.ndarray:
    """The plate scene, 13 grey levels brighter from frame 10 on: a change of picture, not a cut."""
    image = square_from_frame_1(index)
    if index >= 10:
        image[image == 96] = 109
    return image


def test_a_change_of_picture_is_looked_at_by_faces_and_skipped_by_plates(tmp_path: Path) -> None:
    """Regular looks at 0, 8, 16, 24 and 32 and one for the change at frame 10: the face detector sees all six,
    the plate detector, which glances, the five regular ones, and the plate stays covered throughout."""
    source = make_clip(tmp_path / "in.mp4", size=SIZE, frames=FRAMES, content=brighter_from_frame_10, crf=18)
    faces, plate = CountingFaces(), CountingSquares()
    detections = tmp_path / "d.json"
    report = veil.anonymize(source, tmp_path / "out.mp4", detectors=[faces, plate], detections_path=detections)
    assert report.detected_frames == 6 and report.cuts == 0
    assert faces.looks == 6
    assert (plate.close, plate.glances) == (3, 2)
    assert set(range(APPEARS, FRAMES)) <= set(covered_frames(detections))


class BrokenGlance(UnseenByGlances):
    """Looks closely without fault; its glance fails, as a broken model would."""

    def glance(self, image: np.ndarray) -> Detections:
        raise RuntimeError("glance model crashed")


def test_a_failing_glance_fails_the_run_and_leaves_no_output(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", size=SIZE, frames=FRAMES, content=square_from_frame_1, crf=18)
    output = tmp_path / "out" / "video.mp4"
    output.parent.mkdir()
    with pytest.raises(veil.ModelError, match=r"plate detector failed on frame 8: glance model crashed"):
        veil.anonymize(source, output, detectors=[BrokenGlance("plate", 1)], detections_path=output.parent / "d.json")
    assert list(output.parent.iterdir()) == []
