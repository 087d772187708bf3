"""Nothing shows without a session, changes need the CSRF token, and ids reach only their own job's files."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.review.conftest import review_clip, sign_in, upload
from tests.service.server import VeilServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def jobs(server: VeilServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("security")
    first = upload(server, review_clip(folder / "first.mp4"))
    second = upload(server, review_clip(folder / "second.mp4"))
    return str(first["job_id"]), str(second["job_id"])


@pytest.fixture
def client(server: VeilServer, first_user: tuple[str, str]) -> Iterator[httpx.Client]:
    signed = sign_in(server, *first_user)
    yield signed
    signed.close()


def pages(job: str) -> list[str]:
    return ["/ui", "/ui/jobs", f"/ui/jobs/{job}", f"/ui/jobs/{job}/log"]


def media(job: str) -> list[str]:
    return [f"/ui/media/{job}/original", f"/ui/media/{job}/anonymized", f"/ui/media/{job}/thumb/0"]


def api(job: str) -> list[str]:
    parts = ("tracks", "review", "corrections", "audit", "video", "detections")
    return [*(f"/v1/jobs/{job}/{part}" for part in parts), f"/v1/review/overview?job_id={job}"]


@pytest.mark.parametrize("cookie", [None, "forged-session-token"])
def test_without_a_session_nothing_shows(server: VeilServer, jobs: tuple[str, str], cookie: str | None) -> None:
    job = jobs[0]
    cookies = {"veil_session": cookie} if cookie else None
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as anonymous:
        for path in pages(job):
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/ui/login", path
        for path in media(job) + api(job):
            response = anonymous.get(path)
            assert response.status_code == 401, (path, response.status_code)
            assert b"\x00\x00\x00" not in response.content[:64], path  # no video bytes
        assert anonymous.get("/ui/login").status_code == 200  # only the sign-in page (and its CSS/JS) is public


def test_wrong_passwords_and_forged_sign_in_forms_are_refused(server: VeilServer, first_user: tuple[str, str]) -> None:
    user, password = first_user
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        browser.get("/ui/login")
        forged = browser.post("/ui/login", data={"user": user, "password": password, "login_token": "guess"})
        assert forged.status_code == 403 and "veil_session" not in browser.cookies
    with pytest.raises(AssertionError):
        sign_in(server, user, password + "x")


def test_originals_need_a_session_and_are_never_cached(client: httpx.Client, jobs: tuple[str, str]) -> None:
    job = jobs[0]
    original = client.get(f"/ui/media/{job}/original")
    assert original.status_code == 200 and original.headers["cache-control"] == "no-store"
    assert original.content[4:8] == b"ftyp"
    part = client.get(f"/ui/media/{job}/original", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100  # the player can seek
    page = client.get(f"/ui/jobs/{job}")
    assert (
        page.headers["cache-control"] == "no-store"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    cookie = next(c for c in client.cookies.jar if c.name == "veil_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") in ("strict", "Strict")


def test_changes_without_the_csrf_token_are_refused(client: httpx.Client, jobs: tuple[str, str]) -> None:
    job = jobs[0]
    body = {"kind": "style", "style": "blur"}
    token = client.headers.pop("X-CSRF-Token")
    assert client.post(f"/v1/jobs/{job}/corrections", json=body).status_code == 403
    assert client.post(f"/v1/jobs/{job}/corrections", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post(f"/v1/jobs/{job}/approve", json={}).status_code == 403
    assert client.post("/ui/logout").status_code == 403
    evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
    assert client.post(f"/v1/jobs/{job}/corrections", json=body, headers=evil).status_code == 403
    assert client.get(f"/v1/jobs/{job}/corrections").json()["corrections"] == []
    made = client.post(f"/v1/jobs/{job}/corrections", json=body, headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    assert (
        client.delete(f"/v1/jobs/{job}/corrections/{made.json()['id']}", headers={"X-CSRF-Token": token}).status_code
        == 204
    )


def test_ids_reach_only_their_own_jobs_files(client: httpx.Client, jobs: tuple[str, str], server: VeilServer) -> None:
    first, second = jobs
    made = client.post(f"/v1/jobs/{first}/corrections", json={"kind": "delete_track", "track_id": 0})
    assert made.status_code == 201
    assert client.delete(f"/v1/jobs/{second}/corrections/{made.json()['id']}").status_code == 409
    assert [c["id"] for c in client.get(f"/v1/jobs/{first}/corrections").json()["corrections"]] == [made.json()["id"]]
    client.delete(f"/v1/jobs/{first}/corrections/{made.json()['id']}")
    for path in (
        "/ui/media/0123456789abcdef0123456789abcdef/original",
        f"/ui/media/{first}/source",
        f"/ui/media/{first}/..%2F..%2Fcredentials.json",
        f"/ui/media/{first}/original/../../credentials.json",
        f"/ui/media/{first}/thumb/424242",
        f"/ui/media/{first}/thumb/..%2Fsecret",
    ):
        response = client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert b"api_token" not in response.content
    original = client.get(f"/ui/media/{first}/original", params={"bucket": "output", "key": "../credentials.json"})
    assert original.content == (server.data_dir / "source" / "first.mp4").read_bytes()
