"""``veil serve`` as a user and a client meet it: a real process, real HTTP, boto3, files in buckets."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.media_factory import make_clip, make_text_file, truncate
from tests.service.server import SECRETS_ENV, VeilServer, wait_for
from veil.media import probe
from veil.samples import ASTRONAUT_FACE, astronaut, render_sample_clip, sample_frame

pytestmark = pytest.mark.timeout(180)

PLATES_ARN = "arn:aws:rekognition:us-east-1:000000000000:project/plates/version/veil/1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VeilServer]:
    served = VeilServer(tmp_path_factory.mktemp("serve") / "data", env=SECRETS_ENV).start()
    try:
        yield served
        assert served.stop(), served.output()
    finally:
        served.ensure_stopped()


@pytest.fixture
def launch() -> Iterator[Callable[..., VeilServer]]:
    """Start servers; whatever still runs at the end of the test is killed."""
    started: list[VeilServer] = []

    def start(*args: Any, **kwargs: Any) -> VeilServer:
        started.append(VeilServer(*args, **kwargs))
        return started[-1].start()

    yield start
    for served in started:
        served.ensure_stopped()


@pytest.fixture(scope="module")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 frames at 320x180 with the astronaut's face in every one."""
    return render_sample_clip(tmp_path_factory.mktemp("media") / "sample.mp4", seconds=0.4, size=(320, 180))


def source(server: VeilServer) -> Path:
    return server.data_dir / "source"


def output(server: VeilServer) -> Path:
    return server.data_dir / "output"


def visible_files(folder: Path) -> list[str]:
    """What a bucket folder shows: no hidden partial files."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
    )


def png(image) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_video_copied_into_the_source_bucket_is_anonymized_once(server: VeilServer, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mov", frames=12)
    shutil.copy(clip, source(server) / "Holiday Clip.MOV")
    video = output(server) / "Holiday Clip" / "mosaic" / "Holiday Clip.mp4"
    wait_for(lambda: (output(server) / "Holiday Clip" / "detections.json").exists(), 60, "the detections", 0.2)
    assert probe(video).frame_count == 12
    detections = json.loads((output(server) / "Holiday Clip" / "detections.json").read_text())
    assert set(detections) >= {"VideoMetadata", "Faces"}
    job = server.wait_finished("Holiday Clip.MOV")
    assert job["state"] == "SUCCEEDED" and job["detail"] == "succeeded"
    assert job["output"]["video_key"] == "Holiday Clip/mosaic/Holiday Clip.mp4"
    assert job["timings"] and job["video_metadata"]["FrameWidth"] == 160

    shutil.copy(clip, source(server) / "Holiday Clip.MOV")  # the same content again: the same object version
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "source"}, "object": {"key": "Holiday+Clip.MOV"}},
            }
        ]
    }
    for _ in range(2):
        answer = server.api("POST", "/events/s3", json=event).json()
        assert answer["jobs"] == [
            {"job_id": job["job_id"], "bucket": "source", "key": "Holiday Clip.MOV", "created": False}
        ]
    time.sleep(1)  # a few more polls of the watcher
    assert [j["job_id"] for j in server.jobs_for("Holiday Clip.MOV")] == [job["job_id"]]


def test_events_start_one_job_and_say_what_they_ignored(server: VeilServer, tmp_path: Path) -> None:
    make_clip(source(server) / "from event.mp4", frames=6)
    minio = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": "source/from+event.mp4",
        "Records": [
            {
                "eventName": "s3:ObjectCreated:Put",
                "s3": {"bucket": {"name": "source"}, "object": {"key": "from+event.mp4"}},
            }
        ],
    }
    first = server.api("POST", "/events/s3", json=minio).json()
    second = server.api("POST", "/events/s3", json=minio).json()
    assert first["jobs"][0]["job_id"] == second["jobs"][0]["job_id"] and not second["jobs"][0]["created"]
    ignored = {
        "Records": [
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "source"}, "object": {"key": "a.mp4"}}},
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "source"}, "object": {"key": "notes.txt"}}},
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "other"}, "object": {"key": "b.mp4"}}},
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "source"}, "object": {"key": "missing.mp4"}}},
        ]
    }
    answer = server.api("POST", "/events/s3", json=ignored).json()
    assert answer["jobs"] == [] and len(answer["ignored"]) == 4
    assert server.api("POST", "/events/s3", json=ignored, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert server.api("POST", "/events/s3", json={"not": "an event"}).status_code == 422
    assert server.wait_finished("from event.mp4")["state"] == "SUCCEEDED"


def test_the_rekognition_job_api_works_with_boto3(server: VeilServer, sample_clip: Path) -> None:
    shutil.copy(sample_clip, source(server) / "people.mp4")
    client = server.rekognition()
    video = {"S3Object": {"Bucket": "source", "Name": "people.mp4"}}
    job_id = client.start_face_detection(Video=video, ClientRequestToken="start-1", JobTag="walkers")["JobId"]
    assert client.start_face_detection(Video=video, ClientRequestToken="start-1")["JobId"] == job_id

    def done():
        response = client.get_face_detection(JobId=job_id)
        return response if response["JobStatus"] != "IN_PROGRESS" else None

    whole = wait_for(done, 60, "the face detection job", 0.3)
    assert whole["JobStatus"] == "SUCCEEDED" and "NextToken" not in whole
    assert whole["VideoMetadata"]["FrameWidth"] == 320 and whole["VideoMetadata"]["FrameHeight"] == 180
    assert whole["VideoMetadata"]["Codec"] == "h264" and whole["VideoMetadata"]["DurationMillis"] > 0
    faces = whole["Faces"]
    assert len(faces) >= 5, faces
    assert [face["Timestamp"] for face in faces] == sorted(face["Timestamp"] for face in faces)
    for face in faces:
        box = face["Face"]["BoundingBox"]
        assert 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1 and 0 < face["Face"]["Confidence"] <= 100

    pages, token = [], None
    while True:
        page = client.get_face_detection(JobId=job_id, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Faces"]) <= 2
        pages += page["Faces"]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == faces
    assert (output(server) / "people" / "mosaic" / "people.mp4").exists()  # the same job as a bucket upload

    assert error_of(lambda: client.get_face_detection(JobId=job_id, NextToken="not-a-token")) == (
        "InvalidPaginationTokenException",
        400,
    )
    assert error_of(lambda: client.get_face_detection(JobId="no-such-job")) == ("ResourceNotFoundException", 400)
    missing = {"S3Object": {"Bucket": "source", "Name": "nowhere.mp4"}}
    assert error_of(lambda: client.start_face_detection(Video=missing)) == ("InvalidS3ObjectException", 400)
    other = {"S3Object": {"Bucket": "source", "Name": "from event.mp4"}}
    assert (
        error_of(lambda: client.start_face_detection(Video=other, ClientRequestToken="start-1"))[0]
        == "IdempotentParameterMismatchException"
    )


def test_detect_faces_and_plates_on_images(server: VeilServer) -> None:
    client = server.rekognition()
    (face,) = client.detect_faces(Image={"Bytes": png(astronaut())})["FaceDetails"]
    box, (x1, y1, x2, y2) = face["BoundingBox"], ASTRONAUT_FACE
    centre = ((box["Left"] + box["Width"] / 2) * 512, (box["Top"] + box["Height"] / 2) * 512)
    assert x1 < centre[0] < x2 and y1 < centre[1] < y2 and face["Confidence"] > 50

    (source(server) / "photos").mkdir()
    (source(server) / "photos" / "astronaut.png").write_bytes(png(astronaut()))  # not a video: the watcher ignores it
    from_bucket = client.detect_faces(Image={"S3Object": {"Bucket": "source", "Name": "photos/astronaut.png"}})
    assert from_bucket["FaceDetails"] == [face]

    frame = {"Bytes": png(sample_frame(20))}  # the rendered plate scores 0.5 here (0.04 at frame 50)
    labels = client.detect_custom_labels(ProjectVersionArn=PLATES_ARN, Image=frame)["CustomLabels"]
    assert labels and all(label["Name"] == "vehicle_registration_plate" for label in labels)
    assert 0 < labels[0]["Geometry"]["BoundingBox"]["Width"] < 1
    best = labels[0]["Confidence"]
    above = client.detect_custom_labels(ProjectVersionArn=PLATES_ARN, Image=frame, MinConfidence=best)["CustomLabels"]
    assert above and all(label["Confidence"] >= best for label in above)
    assert (
        client.detect_custom_labels(ProjectVersionArn=PLATES_ARN, Image=frame, MinConfidence=100)["CustomLabels"] == []
    )

    assert error_of(lambda: client.detect_faces(Image={"Bytes": b"not an image"}))[0] == "InvalidImageFormatException"
    assert (
        error_of(lambda: client.detect_faces(Image={"Bytes": b"\0" * (5 * 1024 * 1024 + 1)}))[0]
        == "ImageTooLargeException"
    )
    nowhere = {"S3Object": {"Bucket": "source", "Name": "photos/none.png"}}
    assert error_of(lambda: client.detect_faces(Image=nowhere))[0] == "InvalidS3ObjectException"


def test_requests_without_the_right_signature_are_refused(server: VeilServer) -> None:
    calls = {
        "InvalidSignatureException": server.rekognition(secret="a-wrong-secret-access-key-000000"),
        "UnrecognizedClientException": server.rekognition(key_id="SOMEBODYELSE00000001"),
        "MissingAuthenticationTokenException": server.rekognition(signature_version=UNSIGNED),
    }
    for code, client in calls.items():
        assert error_of(lambda client=client: client.get_face_detection(JobId="x")) == (code, 400)
    raw = httpx.post(server.url, content=b"{}", headers={"X-Amz-Target": "RekognitionService.GetFaceDetection"})
    assert raw.status_code == 400 and raw.json()["__type"] == "MissingAuthenticationTokenException"
    assert raw.headers["content-type"] == "application/x-amz-json-1.1"


@pytest.mark.parametrize("bad", ["text", "truncated"])
def test_bad_uploads_fail_clearly_and_leave_no_output(server: VeilServer, tmp_path: Path, bad: str) -> None:
    if bad == "text":
        path = make_text_file(tmp_path / "notes.mp4")
        with path.open("rb") as upload:
            response = server.api("POST", "/v1/jobs/upload", files={"file": ("notes.mp4", upload, "video/mp4")})
        assert response.status_code == 201, response.text
        key = "notes.mp4"
    else:
        key = "cut.mp4"
        truncate(make_clip(tmp_path / "whole.mp4", frames=30), tmp_path / key)
        shutil.copy(tmp_path / key, source(server) / key)
    job = server.wait_finished(key)
    assert job["state"] == "FAILED" and job["detail"] == "failed", job
    assert key in job["message"] and "video" in job["message"], job["message"]
    assert job["output"] is None
    assert not (output(server) / Path(key).stem).exists()
    assert server.api("GET", "/healthz").status_code == 200
    client = server.rekognition()
    failed = client.get_face_detection(JobId=job["job_id"])
    assert failed["JobStatus"] == "FAILED" and failed["StatusMessage"] == job["message"]


def test_the_rest_api(server: VeilServer, tmp_path: Path) -> None:
    assert httpx.get(f"{server.url}/v1/jobs").status_code == 401
    assert server.api("GET", "/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    (source(server) / "rest").mkdir()
    make_clip(source(server) / "rest" / "a.mp4", frames=6)
    created = server.api("POST", "/v1/jobs", json={"key": "rest/a.mp4"})
    assert created.status_code in (200, 201), created.text  # 200 if the watcher got there first
    job_id = created.json()["job_id"]
    assert server.api("POST", "/v1/jobs", json={"key": "rest/a.mp4"}).json()["job_id"] == job_id
    assert server.api("POST", "/v1/jobs", json={"key": "rest/none.mp4"}).status_code == 404
    assert server.api("POST", "/v1/jobs", json={"key": "../escape.mp4"}).status_code == 400
    job = server.wait_finished("rest/a.mp4")
    assert server.api("GET", f"/v1/jobs/{job_id}").json() == job
    assert job["output"]["video_key"] == "rest/a/mosaic/rest/a.mp4"

    video = server.api("GET", job["output"]["video_path"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert probe(tmp_path / "out.mp4").frame_count == 6
    assert "Faces" in server.api("GET", f"/v1/jobs/{job_id}/detections").json()
    assert server.api("GET", "/v1/jobs/nope").status_code == 404

    page = server.api("GET", "/v1/jobs", params={"limit": 1, "state": "SUCCEEDED"}).json()
    assert len(page["jobs"]) == 1 and page["next_cursor"]
    rest = server.api(
        "GET", "/v1/jobs", params={"limit": 1000, "state": "SUCCEEDED", "cursor": page["next_cursor"]}
    ).json()
    everything = server.jobs(state="SUCCEEDED")
    assert [j["job_id"] for j in page["jobs"] + rest["jobs"]] == [j["job_id"] for j in everything]
    assert all(j["state"] == "FAILED" for j in server.jobs(state="FAILED"))

    assert server.api("GET", "/readyz").json()["ready"] is True
    assert "/v1/jobs" in httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_a_killed_server_finishes_its_job_exactly_once_after_a_restart(tmp_path: Path, launch) -> None:
    """No secrets in the environment: they are generated once, kept private and reused after the restart."""
    data = tmp_path / "data"
    first = launch(data, token="")
    credentials = data / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert str(credentials) in first.output()
    first.token = json.loads(credentials.read_text())["api_token"]
    assert first.api("GET", "/v1/jobs").status_code == 200

    # 150 frames at 640x360: several seconds of work, so the kill lands mid-job even
    # though progress reaches the job store only about once a second.
    clip = render_sample_clip(tmp_path / "long.mp4", seconds=6, size=(640, 360))
    shutil.copy(clip, data / "source" / "long.mp4")

    def mid_job() -> list[dict[str, Any]]:
        return [j for j in first.jobs_for("long.mp4") if j["detail"] == "running" and j["progress"]["frames_done"] > 0]

    (running,) = wait_for(mid_job, 30, "the job to be part-way through", 0.05)
    first.kill()
    assert running["progress"]["frames_done"] < 150, running
    assert visible_files(data / "output") == []

    second = launch(data, token=first.token)
    video = data / "output" / "long" / "mosaic" / "long.mp4"

    def finished_and_never_partial() -> dict[str, Any] | None:
        assert not video.exists() or probe(video).frame_count == 150  # whole from the moment it is visible
        jobs = second.jobs_for("long.mp4")
        return jobs[0] if jobs[0]["state"] != "IN_PROGRESS" else None

    job = wait_for(finished_and_never_partial, 90, "the job to finish after the restart", 0.05)
    assert job["state"] == "SUCCEEDED" and job["attempts"] == 2, job
    assert len(second.jobs_for("long.mp4")) == 1
    assert visible_files(data / "output") == ["long/detections.json", "long/mosaic/long.mp4"]
    assert second.stop(), second.output()


def test_help_names_every_setting_and_bad_settings_fail_in_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VEIL_")}
    usage = subprocess.run(
        [sys.executable, "-m", "veil", "serve", "--help"], capture_output=True, text=True, env={**env, "COLUMNS": "200"}
    )
    for name in (
        "VEIL_DATA_DIR",
        "VEIL_PORT",
        "VEIL_WORKERS",
        "VEIL_S3_ENDPOINT",
        "VEIL_API_TOKEN",
        "VEIL_SECRET_ACCESS_KEY",
        "FACE_MIN_CONFIDENCE",
    ):
        assert name in usage.stdout, name
    failed = subprocess.run(
        [sys.executable, "-m", "veil", "serve", "--data-dir", str(tmp_path), "--output-bucket", "source"],
        capture_output=True,
        text=True,
        env={**env, "VEIL_PORT": "eighty"},
        timeout=60,
    )
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1, failed.stderr
    assert failed.stderr.startswith("veil: error: invalid settings: VEIL_PORT")
