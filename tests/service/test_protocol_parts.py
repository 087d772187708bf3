"""The service's parts that need no server: settings, secrets, Signature V4, tokens, notifications."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from veil.errors import ConfigError
from veil.service.credentials import resolve_secrets
from veil.service.errors import ApiError
from veil.service.events import parse_notification
from veil.service.settings import load_settings
from veil.service.sigv4 import SignedRequest, verify
from veil.service.tokens import TokenCodec

KEY_ID, SECRET = "VEILTESTKEY0000001", "s3cr3t-s3cr3t-s3cr3t"
BODY = b'{"JobId":"abc"}'


def signed(
    body: bytes = BODY, key_id: str = KEY_ID, secret: str = SECRET, host: str = "127.0.0.1:9000"
) -> SignedRequest:
    """A request signed by botocore exactly as boto3 signs a Rekognition call."""
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "RekognitionService.GetFaceDetection"},
    )
    SigV4Auth(Credentials(key_id, secret), "rekognition", "us-east-1").add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    return SignedRequest("POST", "/", "", {**headers, "host": host}, body)


def error_code(call) -> str:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.body() == {"__type": caught.value.code, "Message": caught.value.message}
    return caught.value.code


def test_a_botocore_signature_verifies() -> None:
    assert verify(signed(), {KEY_ID: SECRET}) == KEY_ID


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (lambda: signed(secret="another-secret-entirely"), "InvalidSignatureException"),
        (lambda: signed(key_id="SOMEONEELSE0000001"), "UnrecognizedClientException"),
        (lambda: SignedRequest(**{**signed().__dict__, "body": BODY + b" "}), "InvalidSignatureException"),
        (
            lambda: SignedRequest(**{**signed().__dict__, "headers": {**signed().headers, "host": "evil:1"}}),
            "InvalidSignatureException",
        ),
        (lambda: SignedRequest("POST", "/", "", {"host": "x"}, BODY), "MissingAuthenticationTokenException"),
        (
            lambda: SignedRequest("POST", "/", "", {"host": "x", "authorization": "Bearer abc"}, BODY),
            "IncompleteSignatureException",
        ),
    ],
)
def test_bad_requests_get_the_aws_error(request_, code: str) -> None:
    assert error_code(lambda: verify(request_(), {KEY_ID: SECRET})) == code


def test_an_old_signature_has_expired() -> None:
    later = datetime.now(UTC) + timedelta(minutes=20)
    assert error_code(lambda: verify(signed(), {KEY_ID: SECRET}, now=later)) == "InvalidSignatureException"


def test_pagination_tokens_round_trip_and_refuse_forgery() -> None:
    codec = TokenCodec("secret")
    token = codec.encode("job1", 40)
    assert codec.decode(token, "job1") == 40
    assert len(token) < 255
    for bad in ("", "garbage", token + "x", TokenCodec("other").encode("job1", 40), codec.encode("job2", 40)):
        assert error_code(lambda bad=bad: codec.decode(bad, "job1")) == "InvalidPaginationTokenException"


def s3_event(key: str, bucket: str = "source", name: str = "ObjectCreated:Put") -> dict:
    return {"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10, "eTag": "abc"}}}


def test_s3_notifications_decode_keys() -> None:
    events = parse_notification(
        {"Records": [s3_event("my+holiday%2Fclip+%281%29.MOV"), s3_event("x.mp4", name="ObjectRemoved:Delete")]}
    )
    assert [(e.bucket, e.key, e.created) for e in events] == [
        ("source", "my holiday/clip (1).MOV", True),
        ("source", "x.mp4", False),
    ]


def test_minio_webhooks_are_understood() -> None:
    minio = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": "source/a+b.mp4",
        "Records": [{**s3_event("a+b.mp4"), "eventName": "s3:ObjectCreated:Put"}],
    }
    (event,) = parse_notification(minio)
    assert (event.bucket, event.key, event.created) == ("source", "a b.mp4", True)
    (event,) = parse_notification({"EventName": "s3:ObjectCreated:Put", "Key": "source/dir/c.mov"})
    assert (event.bucket, event.key) == ("source", "dir/c.mov")


def test_test_events_and_garbage() -> None:
    assert parse_notification({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "source"}) == []
    cases = [
        ([], "a notification is a JSON object"),
        ({"Records": [{"eventName": "x"}]}, "an event record needs eventName"),
        ({"hello": 1}, "not an S3 or MinIO notification"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            parse_notification(bad)


def test_settings_from_env_with_legacy_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_WORKERS", "3")
    monkeypatch.setenv("OUTPUT_BUCKET", "results")
    monkeypatch.setenv("FACE_MIN_CONFIDENCE", "25")
    monkeypatch.setenv("VEIL_SUFFIXES", "mov,.MP4")
    monkeypatch.setenv("VEIL_CLASSES", "face")
    settings = load_settings(port=9999)
    assert (settings.workers, settings.output_bucket, settings.port) == (3, "results", 9999)
    assert settings.face_threshold == pytest.approx(0.25)
    assert settings.matches("a/B.mov") and settings.matches("c.Mp4") and not settings.matches("d.mkv")
    options = settings.anonymize_options()
    assert options.detector.classes == ("face",) and options.detector.face_threshold == pytest.approx(0.25)
    monkeypatch.setenv("VEIL_WORKERS", "5")
    assert load_settings().workers == 5  # veil's own name wins over the alias


def test_engine_settings_shape_each_jobs_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_ENGINE", "ray")
    monkeypatch.setenv("VEIL_RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("VEIL_SEGMENT_SECONDS", "30")
    settings = load_settings(workers=2)
    assert (settings.engine, settings.ray_address, settings.jobs, settings.scratch_bucket) == (
        "ray",
        "ray://head:10001",
        None,
        "veil-scratch",
    )
    on_ray = settings.anonymize_options()
    assert on_ray.parallel.segment_seconds == 30.0
    assert on_ray.detector.threads is None  # Ray tasks size their own threads


def test_local_workers_share_the_cores_instead_of_each_taking_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 12)
    assert load_settings(workers=1).anonymize_options().detector.threads is None  # one job: the runtime uses every core
    assert load_settings(workers=3).anonymize_options().detector.threads == 4  # 3 videos at once, 4 cores each
    split = load_settings(workers=2, jobs=2).anonymize_options()
    assert (split.parallel.jobs, split.detector.threads) == (2, 3)  # 2 videos x 2 segments, 3 cores each
    assert load_settings(workers=24).anonymize_options().detector.threads == 1  # never below one thread


def test_every_anonymize_option_is_a_service_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_STYLE", "blur")
    monkeypatch.setenv("VEIL_CRF", "30")
    monkeypatch.setenv("VEIL_DETECT_EVERY", "2")
    options = load_settings().anonymize_options()
    assert (options.redact.style, options.encoder.crf, options.schedule.detect_every) == ("blur", 30, 2)
    assert options.fusion.max_gap == 10  # untouched options keep their one default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VEIL_PORT", "http"),
        ("VEIL_CLASSES", "cat"),
        ("VEIL_WORKERS", "0"),
        ("VEIL_OUTPUT_BUCKET", "source"),
        ("VEIL_ENGINE", "spark"),
        ("VEIL_JOBS", "0"),
    ],
)
def test_bad_settings_are_one_config_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_missing_secrets_are_generated_once_and_private(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path, api_token="a-token-given-by-the-user")
    resolved, path = resolve_secrets(settings)
    assert path == tmp_path / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolved.api_token == "a-token-given-by-the-user"
    assert resolved.access_key_id and len(resolved.secret_access_key or "") >= 30
    assert set(json.loads(path.read_text())) == {"access_key_id", "secret_access_key"}
    again, _ = resolve_secrets(settings)
    assert (again.access_key_id, again.secret_access_key) == (resolved.access_key_id, resolved.secret_access_key)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_secrets(settings)


def test_the_watcher_submits_each_stable_object_version_once(tmp_path) -> None:
    from veil.service.watcher import BucketWatcher
    from veil.storage import LocalStore

    store = LocalStore(tmp_path)
    store.ensure_bucket("source")
    submitted: list[tuple[str, str]] = []
    watcher = BucketWatcher(
        store,
        "source",
        matches=lambda key: key.endswith(".mp4"),
        submit=lambda info: submitted.append((info.key, info.etag)),
        interval=60,
    )
    (tmp_path / "source" / "a.mp4").write_bytes(b"first part")
    (tmp_path / "source" / "notes.txt").write_bytes(b"not a video")
    assert watcher.poll() == 0  # seen once: it may still be being written
    (tmp_path / "source" / "a.mp4").write_bytes(b"first part, and the rest")
    assert watcher.poll() == 0  # it changed: wait again
    assert watcher.poll() == 1 and watcher.poll() == 0
    (tmp_path / "source" / "a.mp4").write_bytes(b"a new version")
    assert [watcher.poll(), watcher.poll()] == [0, 1]
    assert [key for key, _ in submitted] == ["a.mp4", "a.mp4"] and submitted[0][1] != submitted[1][1]
