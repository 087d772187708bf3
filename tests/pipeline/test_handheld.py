"""A handheld camera that jerks between looks: the run measures the jerk and the cover follows the face."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import veil
from tests.media_factory import make_clip
from tests.segments.fakes import ColourSquares
from veil.samples import sample_frame

SIZE = (480, 272)
FACE = (400, 200, 440, 240)  # where the red square sits in the world, x1, y1, x2, y2
JERKED = range(10, 14)  # frames on which the camera is 24 px further right
JERK = 24


def world() -> np.ndarray:
    """The scene filmed: the sample photo, dimmed (nothing in it looks like the red square), and the square."""
    scene = (sample_frame(0, (960, 540)) // 2).astype(np.uint8)
    x1, y1, x2, y2 = FACE
    scene[y1:y2, x1:x2] = (250, 20, 20)
    scene[y1 + 1 : y2 : 4, x1:x2] = (30, 30, 30)  # stripes, so covering them changes the pixels
    return scene


def camera(index: int) -> tuple[int, int]:
    return 100 + (JERK if index in JERKED else 0), 60


def pixels(box: dict[str, float]) -> tuple[float, float, float, float]:
    left, top = box["Left"] * SIZE[0], box["Top"] * SIZE[1]
    return left, top, left + box["Width"] * SIZE[0], top + box["Height"] * SIZE[1]


def test_a_jerk_between_looks_is_followed(tmp_path: Path) -> None:
    scene = world()

    def view(index: int) -> np.ndarray:
        left, top = camera(index)
        return np.ascontiguousarray(scene[top : top + SIZE[1], left : left + SIZE[0]])

    source = make_clip(tmp_path / "handheld.mp4", size=SIZE, frames=17, content=view, crf=12)
    report = veil.anonymize(
        source,
        tmp_path / "out.mp4",
        detectors=[ColourSquares("face", 0)],
        detections_path=tmp_path / "d.json",
        detect_every=8,
        change_threshold=1000.0,  # only the every-8th frames are looked at: 0, 8 and 16
        cut_threshold=1000.0,
    )
    assert report.detected_frames == 3 and report.timings["motion"] >= 0
    document = json.loads((tmp_path / "d.json").read_text())
    covers = {face["FrameIndex"]: pixels(face["Face"]["BoundingBox"]) for face in document["Faces"]}
    assert sorted(covers) == list(range(17))
    seen = covers[8]  # the detector's box at the look before the jerk
    for index in JERKED:
        x1, y1, x2, y2 = covers[index]
        # The square moved JERK px left in the picture; the cover reaches it (to the pixel, give or take the codec).
        assert x1 <= seen[0] - JERK + 2 and x2 >= seen[2] - JERK - 2, (index, covers[index], seen)
        assert y1 <= seen[1] + 2 and y2 >= seen[3] - 2, (index, covers[index], seen)
    # The stripes the square had on the jerked frames are gone from the output.
    output = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    for index in range(17):
        ok, picture = output.read()
        assert ok
        left, top = camera(index)
        x1, y1, x2, y2 = FACE[0] - left, FACE[1] - top, FACE[2] - left, FACE[3] - top
        original = view(index)[y1:y2, x1:x2].astype(np.int16)
        changed = np.abs(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)[y1:y2, x1:x2].astype(np.int16) - original)
        assert changed.mean() > 15, index
    output.release()
