"""A box drawn on one frame follows its object through the shot (veil.pipeline.follow), in the API too."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

import veil
from tests.media_factory import make_clip
from tests.review.conftest import review_clip, sign_in, upload
from tests.service.server import VeilServer
from veil.pipeline.follow import follow_box
from veil.records.review import Box, Correction, apply_corrections
from veil.samples import sample_frame


def iou(a: Box, b: Box) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


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


@pytest.mark.timeout(180)
def test_the_api_follows_a_region_when_asked(server: VeilServer, first_user: tuple[str, str], tmp_path: Path) -> None:
    job = upload(server, review_clip(tmp_path / "follow.mp4"))
    client: httpx.Client = sign_in(server, *first_user)
    body = {"kind": "region", "box": [0.05, 0.1, 0.2, 0.45], "start": 0, "end": 39, "follow": True, "anchor": 10}
    made = client.post(f"/v1/jobs/{job['job_id']}/corrections", json=body)
    assert made.status_code == 201, made.text
    steps = made.json()["path"]
    assert [step[0] for step in steps] == list(range(made.json()["start"], made.json()["end"] + 1))
    assert len(steps) > 20 and steps[0][1:] != steps[-1][1:]  # it moved with the picture
    wrong = client.post(f"/v1/jobs/{job['job_id']}/corrections", json={**body, "anchor": 50})
    assert wrong.status_code == 409
    client.close()
