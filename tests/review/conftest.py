"""One real ``veil serve`` for the review tests, its first user, and signed-in HTTP clients."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from tests.media_factory import make_clip
from tests.service.server import SECRETS_ENV, VeilServer
from veil.samples import sample_frame

CLIP_SIZE = (640, 360)
CLIP_FRAMES = 40


def review_clip(path: Path, audio: bool = False) -> Path:
    """40 frames at 25 fps of veil's sample scene: the astronaut's face and a plate on a textured table."""
    content = lambda index: sample_frame(index, CLIP_SIZE, frames=CLIP_FRAMES)
    sound = [("aac", 48000, 1)] if audio else None
    return make_clip(path, size=CLIP_SIZE, frames=CLIP_FRAMES, rate=Fraction(25), content=content, audio=sound)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VeilServer]:
    served = VeilServer(tmp_path_factory.mktemp("review") / "data", env=SECRETS_ENV).start()
    try:
        yield served
        assert served.stop(), served.output()
    finally:
        served.ensure_stopped()


@pytest.fixture(scope="package")
def first_user(server: VeilServer) -> tuple[str, str]:
    """The user generated at the first start, from DATA_DIR/credentials.json."""
    stored = json.loads((server.data_dir / "credentials.json").read_text())
    return stored["review_user"], stored["review_password"]


def sign_in(server: VeilServer, user: str, password: str) -> httpx.Client:
    """A client with a session cookie; its ``headers`` carry the session's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/ui/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    signed = client.post("/ui/login", data={"user": user, "password": password, "login_token": token[1]})
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/jobs", signed.text
    page = client.get("/ui/jobs")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert csrf, page.text
    client.headers["X-CSRF-Token"] = csrf[1]
    return client


def upload(server: VeilServer, path: Path) -> dict[str, object]:
    """Upload with the API token and wait until the job has finished."""
    with path.open("rb") as handle:
        response = server.api("POST", "/v1/jobs/upload", files={"file": (path.name, handle, "video/mp4")})
    assert response.status_code == 201, response.text
    job = server.wait_finished(path.name, timeout=90)
    assert job["state"] == "SUCCEEDED", job
    return job
