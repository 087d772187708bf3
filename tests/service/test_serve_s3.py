"""``veil serve`` against a real S3-protocol server (moto's, on loopback), triggered by S3 events."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.media_factory import make_clip
from tests.s3_server import s3_server
from tests.service.server import SECRETS_ENV, VeilServer
from veil.media import probe

pytestmark = pytest.mark.timeout(180)

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def s3_event(key: str, size: int, etag: str) -> dict:
    """A notification as Amazon S3 sends it: the key URL-encoded, '+' for a space."""
    encoded = key.replace(" ", "+")
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "veil",
                    "bucket": {"name": "source", "arn": "arn:aws:s3:::source"},
                    "object": {"key": encoded, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"},
                },
            }
        ]
    }


def test_an_s3_upload_and_its_event_produce_one_anonymized_video(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=12)
    key = "street cam/clip one.mp4"
    with s3_server() as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        env = {
            **SECRETS_ENV,
            **AWS_ENV,
            "VEIL_S3_ENDPOINT": endpoint,
            "VEIL_S3_REGION": "us-east-1",
            "VEIL_POLL_SECONDS": "3600",
        }
        server = VeilServer(tmp_path / "data", env=env).start()  # polling off: only the event starts the job
        try:
            s3.upload_file(str(clip), "source", key)
            head = s3.head_object(Bucket="source", Key=key)
            event = s3_event(key, head["ContentLength"], head["ETag"].strip('"'))
            first, again = (server.api("POST", "/events/s3", json=event).json()["jobs"] for _ in range(2))
            assert first[0]["key"] == key and first[0]["created"] and not again[0]["created"]
            assert first[0]["job_id"] == again[0]["job_id"]

            job = server.wait_finished(key)
            assert job["state"] == "SUCCEEDED", job
            listed = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="output").get("Contents", []))
            assert listed == [
                "street cam/clip one/detections.json",
                "street cam/clip one/mosaic/street cam/clip one.mp4",
            ]
            s3.download_file("output", listed[1], str(tmp_path / "out.mp4"))
            assert probe(tmp_path / "out.mp4").frame_count == 12

            started = server.rekognition().start_face_detection(Video={"S3Object": {"Bucket": "source", "Name": key}})
            assert started["JobId"] == job["job_id"]  # the same object version is the same job
            assert len(server.jobs_for(key)) == 1
            assert server.stop(), server.output()
        finally:
            server.ensure_stopped()
