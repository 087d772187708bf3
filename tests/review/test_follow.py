"""A box drawn on one frame follows its object through the shot (veil.pipeline.follow), in the API too."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

import veil
from tests.media_factory import make_clip
from tests.review.conftest import review_clip, sign_in, upload
from tests.service.server import VeilServer
from veil.pipeline.cuts import find_cuts
from veil.pipeline.follow import follow_box
from veil.pipeline.schedule import ScheduleSettings
from veil.records.review import PLACEMENTS, Box, Correction, apply_corrections
from veil.samples import ASTRONAUT_FACE, astronaut, sample_frame, skimage_photo

SIZE = (640, 360)
GROWTH_FRAMES = 20
"""The face grows 1.5x over this many frames."""


def iou(a: Box, b: Box) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def covered(box: Box, face: Box) -> float:
    """The part of ``face`` inside ``box``."""
    width = max(0.0, min(box[2], face[2]) - max(box[0], face[0]))
    height = max(0.0, min(box[3], face[3]) - max(box[1], face[1]))
    return width * height / ((face[2] - face[0]) * (face[3] - face[1]))


def area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def head(index: int) -> Box:
    """Where the astronaut's head is on frame ``index`` (fractions): 1.5x taller on frame GROWTH_FRAMES - 1 than on 0,
    drifting right."""
    height = round(SIZE[1] * 0.3 * (1 + 0.5 * index / (GROWTH_FRAMES - 1)))
    x1, y1, x2, y2 = ASTRONAUT_FACE
    width = height * (x2 - x1) // (y2 - y1)
    left, top = round(SIZE[0] * 0.3) + 2 * index, round(SIZE[1] * 0.12)
    return left / SIZE[0], top / SIZE[1], (left + width) / SIZE[0], (top + height) / SIZE[1]


def growing_face(index: int, backgrounds: dict[int, str] | None = None) -> np.ndarray:
    """The head of :func:`head` on a photo; ``backgrounds`` changes the photo from the given frames on (cuts)."""
    names = {0: "coffee.png", **(backgrounds or {})}
    photo = skimage_photo(names[max(first for first in names if first <= index)])
    frame = cv2.resize(photo, SIZE, interpolation=cv2.INTER_AREA)
    left, top, right, bottom = (round(v * s) for v, s in zip(head(index), SIZE * 2, strict=True))
    x1, y1, x2, y2 = ASTRONAUT_FACE
    frame[top:bottom, left:right] = cv2.resize(astronaut()[y1:y2, x1:x2], (right - left, bottom - top))
    noise = np.random.default_rng(index).normal(0, 3, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def faces_of(document: dict[str, object]) -> dict[int, Box]:
    boxes = {}
    for record in document["Faces"]:  # type: ignore[attr-defined]
        box = record["Face"]["BoundingBox"]
        boxes[record["FrameIndex"]] = (box["Left"], box["Top"], box["Left"] + box["Width"], box["Top"] + box["Height"])
    return boxes


def test_a_drawn_box_follows_the_moving_face_both_ways(tmp_path: Path) -> None:
    size = (640, 360)
    clip = make_clip(
        tmp_path / "walk.mp4",
        size=size,
        frames=30,
        rate=Fraction(25),
        content=lambda i: sample_frame(i, size, frames=30),
    )
    veil.anonymize(clip, tmp_path / "out.mp4", detections_path=tmp_path / "d.json", classes="face")
    faces = faces_of(json.loads((tmp_path / "d.json").read_text()))
    path = follow_box(clip, 15, faces[15], 0, 29)
    assert sorted(path) == list(range(30))
    assert faces[0][0] < faces[29][0] - 0.05  # the face moves across the picture...
    assert all(iou(path[i], faces[i]) > 0.5 for i in range(30)), {
        i: iou(path[i], faces[i]) for i in range(30)
    }  # ...the box too
    region = Correction("region", id=5, start=0, end=29, box=faces[15], path=tuple(path.items()))
    covered = apply_corrections({}, [Correction.from_json(region.to_json(), 5)], 30)
    assert [covered[i][0].box for i in range(30)] == [path[i] for i in range(30)]


def test_the_box_grows_and_shrinks_with_the_face_both_ways(tmp_path: Path) -> None:
    frames, anchor = GROWTH_FRAMES, GROWTH_FRAMES // 2
    clip = make_clip(tmp_path / "grow.mp4", size=SIZE, frames=frames, rate=Fraction(25), content=growing_face)
    path = follow_box(clip, anchor, head(anchor), 0, frames - 1)
    assert sorted(path) == list(range(frames))
    assert path.placed[anchor] == "drawn"
    assert {path.placed[i] for i in path if i != anchor} == {"detected"}, path.placed
    last, first = frames - 1, 0
    assert covered(path[last], head(last)) >= 0.95, covered(path[last], head(last))
    assert covered(path[first], head(first)) >= 0.9, covered(path[first], head(first))
    assert area(path[first]) < area(path[anchor]) < area(path[last])  # it shrinks backward, grows forward...
    assert area(path[last]) < 1.5 * area(head(last)) and area(path[first]) < 1.5 * area(head(first))  # ...to fit

    # The template alone keeps the drawn size: it covers 0.70 of the last frame's head (0.69 = (1.25 / 1.5)^2 ideally).
    template = follow_box(clip, anchor, head(anchor), 0, frames - 1, detectors=())
    assert sorted(template) == list(range(frames)) and set(template.placed.values()) == {"drawn", "tracked"}
    assert covered(template[last], head(last)) < 0.8, covered(template[last], head(last))
    assert area(template[first]) == pytest.approx(area(template[last]), rel=0.01)


def test_following_stops_exactly_at_the_cuts_on_both_sides(tmp_path: Path) -> None:
    shots = {0: "chelsea.png", 10: "coffee.png", 25: "rocket.jpg"}  # the face stays, the scene changes under it
    content = lambda index: growing_face(index, shots)
    clip = make_clip(tmp_path / "cuts.mp4", size=SIZE, frames=32, rate=Fraction(25), content=content)
    assert find_cuts(clip) == [10, 25]
    path = follow_box(clip, 16, head(16), 0, 31)
    assert sorted(path) == list(range(10, 25))
    # Without the cut rule it would have gone on: the face is still there on the other side of both cuts.
    uncut = follow_box(clip, 16, head(16), 0, 31, schedule=ScheduleSettings(cut_threshold=1000))
    assert min(uncut) < 10 and max(uncut) >= 25, sorted(uncut)


def test_a_followed_region_keeps_how_each_step_was_placed() -> None:
    values = {"kind": "region", "start": 3, "end": 5, "box": [0.1, 0.1, 0.2, 0.2]}
    steps = [[3, 0.1, 0.1, 0.2, 0.2, "tracked"], [4, 0.1, 0.1, 0.2, 0.2, "drawn"], [5, 0.1, 0.1, 0.3, 0.3, "detected"]]
    correction = Correction.from_json({**values, "path": steps}, 7)
    assert correction.placed == ("tracked", "drawn", "detected")
    assert correction.to_json()["path"] == steps
    assert Correction.from_json({**values, "path": [step[:5] for step in steps]}).placed == ()
    with pytest.raises(ValueError, match="placed has 1 steps, path has 3"):
        Correction("region", path=correction.path, placed=("drawn",))


@pytest.mark.timeout(180)
def test_the_api_follows_a_region_when_asked(server: VeilServer, first_user: tuple[str, str], tmp_path: Path) -> None:
    job = upload(server, review_clip(tmp_path / "follow.mp4"))
    client: httpx.Client = sign_in(server, *first_user)
    body = {"kind": "region", "box": [0.05, 0.1, 0.2, 0.45], "start": 0, "end": 39, "follow": True, "anchor": 10}
    made = client.post(f"/v1/jobs/{job['job_id']}/corrections", json=body)
    assert made.status_code == 201, made.text
    steps = made.json()["path"]
    assert [step[0] for step in steps] == list(range(made.json()["start"], made.json()["end"] + 1))
    assert len(steps) > 20 and steps[0][1:5] != steps[-1][1:5]  # it moved with the picture
    placed = {step[0]: step[5] for step in steps}
    assert placed[10] == "drawn" and set(placed.values()) <= set(PLACEMENTS)
    assert list(placed.values()).count("detected") > 20, placed  # the face detector placed the box on the face
    wrong = client.post(f"/v1/jobs/{job['job_id']}/corrections", json={**body, "anchor": 50})
    assert wrong.status_code == 409
    client.close()
