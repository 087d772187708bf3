"""Workers on real clips, real stores (folders and an S3-protocol server) and a real job database."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.media_factory import make_clip, make_text_file, truncate
from tests.s3_server import CREDENTIALS
from veil.errors import InputError, ModelError, StorageError
from veil.jobs import Job, JobState, JobStore, LeaseLost, WorkerPool, process_job
from veil.jobs.workers import Lease
from veil.media import probe
from veil.pipeline import AnonymizeOptions
from veil.records import Detections
from veil.storage import LocalStore, ObjectStore, S3Store

OPTIONS = AnonymizeOptions.build(classes="face", threads=1)
KEY = "in/my clip.mov"
VIDEO_KEY = "in/my clip/mosaic/in/my clip.mp4"  # the seed's <name>/mosaic/<name>.mp4, name = key without extension
DETECTIONS_KEY = "in/my clip/detections.json"


class SlowDetector:
    """Finds nothing, slowly (or fails): stands in for a model where the test needs control of time."""

    class_name = "face"

    def __init__(self, seconds: float = 0.0, error: str | None = None) -> None:
        self.seconds, self.error = seconds, error

    def detect(self, image: np.ndarray) -> Detections:
        time.sleep(self.seconds)
        if self.error:
            raise ModelError(self.error)
        return Detections.empty()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def wait_finished(store: JobStore, job_id: str, timeout: float = 60.0) -> Job:
    wait_for(lambda: store.get(job_id).state is not JobState.IN_PROGRESS, timeout)
    return store.get(job_id)


@pytest.fixture(params=["local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        store: ObjectStore = LocalStore(tmp_path / "data")
    else:
        store = S3Store(request.getfixturevalue("s3_endpoint"), **CREDENTIALS)
    return store


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "data")


@pytest.fixture
def buckets(objects: ObjectStore) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    source, output = f"source-{suffix}", f"output-{suffix}"
    objects.ensure_bucket(source)
    objects.ensure_bucket(output)
    return source, output


@pytest.fixture
def pools() -> Iterator[list[WorkerPool]]:
    started: list[WorkerPool] = []
    yield started
    for pool in started:
        pool.stop()


def submit(
    objects: ObjectStore, jobs: JobStore, buckets: tuple[str, str], path: Path, key: str = KEY, **extra: object
) -> Job:
    source, output = buckets
    objects.upload(source, key, path)
    info = objects.head(source, key)
    job, created = jobs.create(
        source_bucket=source, source_key=key, source_etag=info.etag, output_bucket=output, **extra
    )  # type: ignore[arg-type]
    assert created
    return job


def start(pools: list[WorkerPool], jobs: JobStore, objects: ObjectStore, **settings: object) -> WorkerPool:
    settings = {"workers": 1, "lease_seconds": 10, "options": OPTIONS, "poll_seconds": 0.1, **settings}
    pool = WorkerPool(jobs, objects, **settings)  # type: ignore[arg-type]
    pools.append(pool)
    pool.start()
    return pool


def test_a_clip_is_anonymized_into_the_output_layout(
    objects: ObjectStore, buckets: tuple[str, str], jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mov", size=(160, 96), frames=12)
    job = submit(objects, jobs, buckets, clip)
    start(pools, jobs, objects)
    done = wait_finished(jobs, job.job_id)
    assert done.state is JobState.SUCCEEDED, done.message
    assert (done.output_key, done.detections_key, done.attempts) == (VIDEO_KEY, DETECTIONS_KEY, 1)
    assert [info.key for info in objects.list_objects(buckets[1])] == [DETECTIONS_KEY, VIDEO_KEY]
    video = tmp_path / "out.mp4"
    objects.download(buckets[1], VIDEO_KEY, video)
    assert probe(video).frame_count == 12 == probe(clip).frame_count
    detections = json.loads(objects.get_bytes(buckets[1], DETECTIONS_KEY))
    assert set(detections) == {"VideoMetadata", "Faces", "CustomLabels"}
    assert done.video_metadata == detections["VideoMetadata"]
    assert (done.frames_done, done.frames_total) == (12, 12)
    assert done.timings and all(seconds >= 0 for seconds in done.timings.values())
    assert objects.exists(buckets[0], KEY)  # the source is left as it is


@pytest.mark.parametrize("bad", ["text", "truncated"])
def test_a_bad_upload_fails_at_once_and_writes_nothing(
    objects: ObjectStore, buckets: tuple[str, str], jobs: JobStore, pools: list[WorkerPool], tmp_path: Path, bad: str
) -> None:
    if bad == "text":
        path = make_text_file(tmp_path / "notes.mp4")
    else:
        path = truncate(make_clip(tmp_path / "clip.mov", frames=6), tmp_path / "cut.mp4", keep=0.5)
    job = submit(objects, jobs, buckets, path, key="bad.mp4")
    start(pools, jobs, objects)
    failed = wait_finished(jobs, job.job_id)
    assert failed.state is JobState.FAILED
    assert failed.attempts == 1  # a bad file is not retried
    assert failed.message and "video" in failed.message.lower()
    assert list(objects.list_objects(buckets[1])) == []


def test_a_job_whose_worker_died_is_finished_once_by_another(
    local: LocalStore, jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    """The first worker claims the job and goes silent (as after kill -9).

    When its lease runs out, another finishes it.
    """
    buckets = ("source", "output")
    for bucket in buckets:
        local.ensure_bucket(bucket)
    job = submit(local, jobs, buckets, make_clip(tmp_path / "clip.mov", frames=6))
    assert jobs.claim("dead-worker", 0.5) is not None
    start(pools, jobs, local, workers=2)
    done = wait_finished(jobs, job.job_id)
    assert done.state is JobState.SUCCEEDED and done.attempts == 2
    assert done.worker_id != "dead-worker"
    assert [info.key for info in local.list_objects("output")] == [DETECTIONS_KEY, VIDEO_KEY]
    assert not jobs.succeed(
        job.job_id, "dead-worker", output_key="x", detections_key="y", timings={}, video_metadata={}
    )
    assert jobs.get(job.job_id) == done


def test_a_worker_that_lost_its_lease_publishes_nothing(local: LocalStore, jobs: JobStore, tmp_path: Path) -> None:
    for bucket in ("source", "output"):
        local.ensure_bucket(bucket)
    job = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "clip.mov", frames=6))
    with pytest.raises(LeaseLost):
        process_job(job, local, progress=lambda done, total: None, options=OPTIONS, still_owner=lambda: False)
    assert list(local.list_objects("output")) == []


def test_model_errors_are_retried_then_fail_with_the_last_message(
    local: LocalStore, jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    for bucket in ("source", "output"):
        local.ensure_bucket(bucket)
    job = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "clip.mov", frames=6), max_attempts=2)
    start(pools, jobs, local, detectors=[SlowDetector(error="the face model ran out of memory")])
    failed = wait_finished(jobs, job.job_id)
    assert (failed.state, failed.attempts) == (JobState.FAILED, 2)
    assert "the face model ran out of memory" in (failed.message or "")
    assert list(local.list_objects("output")) == []


def test_the_lease_is_renewed_and_progress_stored_while_a_job_runs(
    local: LocalStore, jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    """A 0.6 s lease, a job of about 2.4 s, two workers: the job still runs once, and its progress shows."""
    for bucket in ("source", "output"):
        local.ensure_bucket(bucket)
    job = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "clip.mov", frames=24))
    start(
        pools,
        jobs,
        local,
        workers=2,
        lease_seconds=0.6,
        options=AnonymizeOptions.build(detect_every=1),
        detectors=[SlowDetector(0.1)],
    )
    snapshots = []
    while (current := jobs.get(job.job_id)).state is JobState.IN_PROGRESS:
        snapshots.append((current.detail, current.frames_done, current.frames_total, current.fps))
        time.sleep(0.05)
    assert (current.state, current.attempts, current.frames_done) == (JobState.SUCCEEDED, 1, 24)
    assert current.finished_at - current.created_at > timedelta(seconds=1.2)  # twice the lease
    progress = [s for s in snapshots if s[0] == "running" and 0 < s[1] < 24]
    assert progress and all(total == 24 and fps and fps > 0 for _, _, total, fps in progress)


def test_stop_releases_a_running_job(local: LocalStore, jobs: JobStore, tmp_path: Path) -> None:
    for bucket in ("source", "output"):
        local.ensure_bucket(bucket)
    job = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "clip.mov", frames=12))
    pool = WorkerPool(jobs, local, workers=1, lease_seconds=10, detectors=[SlowDetector(0.2)], poll_seconds=0.1)
    pool.start()
    wait_for(lambda: jobs.get(job.job_id).detail == "running")
    pool.stop(timeout=0)
    assert all(not worker.thread.is_alive() for worker in pool.workers)
    released = jobs.get(job.job_id)
    assert (released.state, released.detail, released.attempts, released.worker_id) == (
        JobState.IN_PROGRESS,
        "queued",
        0,
        None,
    )
    assert list(local.list_objects("output")) == []


def test_frames_are_published_when_asked(
    local: LocalStore, jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    for bucket in ("source", "output"):
        local.ensure_bucket(bucket)
    job = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "clip.mov", frames=3), key="c.mov")
    start(pools, jobs, local, write_frames=True)
    assert wait_finished(jobs, job.job_id).state is JobState.SUCCEEDED
    assert [info.key for info in local.list_objects("output")] == [
        "c/detections.json",
        *(f"c/images/{index:06d}.png" for index in range(3)),
        "c/mosaic/000000.png",
        "c/mosaic/000001.png",
        "c/mosaic/000002.png",
        "c/mosaic/c.mp4",
    ]


def test_a_failing_job_names_the_object_not_the_data_directory(
    local: LocalStore, jobs: JobStore, tmp_path: Path
) -> None:
    local.ensure_bucket("uploads")
    local.ensure_bucket("covered")
    job = submit(local, jobs, ("uploads", "covered"), make_text_file(tmp_path / "notes.mp4"), key="cams/notes.mp4")
    work = tmp_path / "data" / ".scratch"
    with pytest.raises(InputError) as raised:
        process_job(job, local, progress=lambda done, total: None, options=OPTIONS, work_dir=work)
    message = str(raised.value)
    assert message.startswith("input uploads/cams/notes.mp4 is not a readable video: ")
    assert str(tmp_path) not in message
    assert raised.value.path == "uploads/cams/notes.mp4"


def test_a_failed_download_names_the_work_file_not_its_absolute_path(
    local: LocalStore, jobs: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.ensure_bucket("uploads")
    local.ensure_bucket("covered")
    job = submit(local, jobs, ("uploads", "covered"), make_clip(tmp_path / "clip.mov", frames=4), key="cams/a.mov")

    def disk_full(*_: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("veil.storage.local.copy_hashing", disk_full)
    with pytest.raises(StorageError) as raised:
        process_job(
            job, local, progress=lambda done, total: None, options=OPTIONS, work_dir=tmp_path / "data" / ".scratch"
        )
    assert str(raised.value) == "cannot write source.mov in the job's work folder: no space left on device"


class FlakyStore:
    """A job store whose heartbeats fail ``outages`` times (the database restarting), then answer."""

    def __init__(self, outages: int) -> None:
        self.outages = outages

    def heartbeat(self, *args: object, **kwargs: object) -> bool:
        if self.outages:
            self.outages -= 1
            raise StorageError("job database: connection refused")
        return True


def test_a_worker_about_to_publish_rides_out_a_short_database_outage(jobs: JobStore) -> None:
    job, _ = jobs.create(source_bucket="s", source_key="a.mp4", source_etag="e", output_bucket="o")
    lease = Lease(FlakyStore(outages=2), job, "w", lease_seconds=5)  # type: ignore[arg-type]
    assert lease.confirm()  # the database answered again before the lease ran out: still ours, publish once
    gone = Lease(FlakyStore(outages=1000), job, "w", lease_seconds=1)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(StorageError):
        gone.confirm()  # the lease ran out meanwhile: hand the job back, never publish on a lease not held
    assert time.monotonic() - started < 1.5
