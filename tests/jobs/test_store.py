"""The job store on a real SQLite file and a real PostgreSQL server: deduplication, leases, retries, progress, pages,
schema versions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.threads import run_together
from veil.errors import ConfigError, JobNotFound, StorageError
from veil.jobs import Job, JobState, JobStore, open_job_store
from veil.jobs.sql import MIGRATIONS


@pytest.fixture
def store(database_url: str) -> Iterator[JobStore]:
    opened = open_job_store(database_url)
    yield opened
    opened.close()


def new(store: JobStore, key: str = "in/clip one.mov", etag: str = "e1", **extra: object) -> tuple[Job, bool]:
    return store.create(source_bucket="source", source_key=key, source_etag=etag, output_bucket="output", **extra)  # type: ignore[arg-type]


def test_a_new_job_is_queued(store: JobStore) -> None:
    job, created = new(store, job_tag="tag-1")
    assert created
    assert (job.state, job.detail, job.attempts, job.max_attempts) == (JobState.IN_PROGRESS, "queued", 0, 3)
    assert job.output_prefix == "in/clip one"
    assert job.job_tag == "tag-1"
    assert len(job.job_id) >= 32 and job.job_id.isalnum()
    assert job.created_at.tzinfo is not None
    assert store.get(job.job_id) == job


def test_the_same_object_twice_is_one_job(store: JobStore) -> None:
    first, _ = new(store)
    again, created = new(store)
    assert not created and again.job_id == first.job_id
    changed, created = new(store, etag="e2")  # a new version of the object is new work
    assert created and changed.job_id != first.job_id


def test_the_same_request_token_is_one_job(store: JobStore) -> None:
    first, _ = new(store, key="a.mov", client_request_token="token-1")
    again, created = new(store, key="b.mov", client_request_token="token-1")
    assert not created and again.job_id == first.job_id
    other, created = new(store, key="b.mov", client_request_token="token-2")
    assert created and other.job_id != first.job_id


def test_a_token_given_for_an_already_queued_object_is_kept_with_its_job(store: JobStore) -> None:
    uploaded, _ = new(store, key="a.mov")  # started by the upload, without a token
    started, created = new(store, key="a.mov", client_request_token="token-1")  # then through the job API
    assert (started.job_id, created) == (uploaded.job_id, False)
    reused, created = new(store, key="b.mov", client_request_token="token-1")
    assert (reused.job_id, created) == (uploaded.job_id, False)  # the caller sees the token belongs to a.mov


def test_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFound) as caught:
        store.get("nope")
    assert isinstance(caught.value, LookupError)


def test_claims_are_exclusive_across_threads_and_connections(database_url: str) -> None:
    """Four threads on two connections (as two processes would have) take 40 jobs: each exactly once."""
    stores = [open_job_store(database_url), open_job_store(database_url)]
    for index in range(40):
        new(stores[0], key=f"k{index}.mov")
    taken: list[str] = []
    lock = threading.Lock()

    def work(worker: str, store: JobStore) -> None:
        while (job := store.claim(worker, 60)) is not None:
            with lock:
                taken.append(job.job_id)

    run_together([partial(work, f"w{i}", stores[i % 2]) for i in range(4)])
    assert len(taken) == 40 and len(set(taken)) == 40


def test_claim_takes_the_oldest_first(store: JobStore) -> None:
    first, _ = new(store, key="1.mov")
    new(store, key="2.mov")
    claimed = store.claim("w", 30)
    assert claimed is not None and claimed.job_id == first.job_id and not claimed.taken_over
    assert (claimed.detail, claimed.attempts, claimed.worker_id) == ("running", 1, "w")


def test_an_expired_lease_lets_another_worker_take_the_job(store: JobStore) -> None:
    job, _ = new(store)
    assert store.claim("dead", 0.2) is not None
    assert store.claim("alive", 30) is None  # leased
    time.sleep(0.3)
    taken = store.claim("alive", 30)
    assert taken is not None and taken.job_id == job.job_id and taken.attempts == 2 and taken.taken_over
    assert not store.heartbeat(job.job_id, "dead", 30, frames_done=5, frames_total=10, fps=1.0)
    assert not store.succeed(job.job_id, "dead", output_key="x", detections_key="y", timings={}, video_metadata={})
    assert store.heartbeat(job.job_id, "alive", 30, frames_done=1, frames_total=10, fps=2.0)
    assert store.get(job.job_id).worker_id == "alive"


def test_failures_are_retried_until_max_attempts(store: JobStore) -> None:
    job, _ = new(store, max_attempts=2)
    store.claim("w", 30)
    assert store.fail(job.job_id, "w", "model crashed once")
    retry = store.get(job.job_id)
    assert (retry.state, retry.detail, retry.attempts, retry.message) == (
        JobState.IN_PROGRESS,
        "queued",
        1,
        "model crashed once",
    )
    store.claim("w", 30)
    store.fail(job.job_id, "w", "model crashed twice")
    failed = store.get(job.job_id)
    assert (failed.state, failed.detail, failed.attempts, failed.message) == (
        JobState.FAILED,
        "failed",
        2,
        "model crashed twice",
    )
    assert failed.finished_at is not None
    assert store.claim("w", 30) is None


def test_a_final_failure_is_not_retried(store: JobStore) -> None:
    job, _ = new(store)
    store.claim("w", 30)
    store.fail(job.job_id, "w", "not a video", retry=False)
    failed = store.get(job.job_id)
    assert (failed.state, failed.attempts, failed.message) == (JobState.FAILED, 1, "not a video")
    assert store.claim("w", 30) is None


def test_a_job_whose_workers_keep_dying_fails(store: JobStore) -> None:
    job, _ = new(store, max_attempts=1)
    store.claim("dead", 0.1)
    time.sleep(0.2)
    assert store.claim("other", 30) is None
    failed = store.get(job.job_id)
    assert failed.state is JobState.FAILED
    assert "gave up after 1 attempts" in (failed.message or "") and "lease" in (failed.message or "")


def test_release_does_not_count_an_attempt(store: JobStore) -> None:
    job, _ = new(store, max_attempts=1)
    store.claim("w", 30)
    assert store.release(job.job_id, "w")
    released = store.get(job.job_id)
    assert (released.detail, released.attempts, released.worker_id) == ("queued", 0, None)
    again = store.claim("w2", 30)
    assert again is not None and again.attempts == 1
    assert not store.release(job.job_id, "w")  # not w's any more


def test_progress_and_results_are_stored(store: JobStore) -> None:
    job, _ = new(store)
    store.claim("w", 30)
    assert store.heartbeat(job.job_id, "w", 30, frames_done=12, frames_total=48, fps=24.5)
    running = store.get(job.job_id)
    assert (running.frames_done, running.frames_total, running.fps) == (12, 48, 24.5)
    assert running.lease_expires_at is not None
    metadata = {
        "Codec": "h264",
        "DurationMillis": 2000,
        "Format": "mov",
        "FrameRate": 24.0,
        "FrameHeight": 96,
        "FrameWidth": 160,
    }
    assert store.succeed(
        job.job_id,
        "w",
        output_key="in/clip one/mosaic/in/clip one.mp4",
        detections_key="in/clip one/detections.json",
        timings={"decode": 0.5},
        video_metadata=metadata,
    )
    done = store.get(job.job_id)
    assert (done.state, done.detail, done.message) == (JobState.SUCCEEDED, "succeeded", None)
    assert done.frames_done == 48 and done.timings == {"decode": 0.5} and done.video_metadata == metadata
    assert (
        done.output_key == "in/clip one/mosaic/in/clip one.mp4" and done.detections_key == "in/clip one/detections.json"
    )
    assert done.finished_at is not None and done.lease_expires_at is None


def test_list_pages_newest_first_with_a_state_filter(store: JobStore) -> None:
    ids = [new(store, key=f"{index}.mov")[0].job_id for index in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = store.list(limit=3, after=cursor)
        seen += [job.job_id for job in page]
        pages += 1
        if cursor is None:
            break
    assert seen == ids[::-1] and pages == 3
    store.claim("w", 30)  # the oldest
    store.succeed(ids[0], "w", output_key="o", detections_key="d", timings={}, video_metadata={})
    store.claim("w", 30)
    store.fail(ids[1], "w", "bad", retry=False)
    assert [job.job_id for job in store.list(state=JobState.SUCCEEDED)[0]] == [ids[0]]
    assert [job.job_id for job in store.list(state=JobState.FAILED)[0]] == [ids[1]]
    assert len(store.list(state=JobState.IN_PROGRESS)[0]) == 5
    assert store.counts() == {"queued": 5, "running": 0, "succeeded": 1, "failed": 1}
    with pytest.raises(ConfigError):
        store.list(limit=0)
    with pytest.raises(JobNotFound):
        store.list(after="no-such-job")


def test_jobs_survive_a_restart(database_url: str) -> None:
    first = open_job_store(database_url)
    job, _ = new(first)
    first.claim("w", 30)
    first.close()
    reopened = open_job_store(database_url)
    assert reopened.get(job.job_id).detail == "running"


@pytest.mark.parametrize("bad", ["mysql://host/db", "sqlite://", "veil.db"])
def test_unsupported_urls_say_what_to_use(bad: str) -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        open_job_store(bad)


def test_relative_and_in_memory_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_job_store("sqlite:///rel/veil.db")
    assert (tmp_path / "rel" / "veil.db").exists()
    memory = open_job_store("sqlite:///:memory:")
    assert new(memory)[1]


def _set_version(url: str, version: int) -> None:
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute("UPDATE veil_schema SET version = ?", (version,))
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            db.execute("UPDATE veil_schema SET version = %s", (version,))


def test_a_database_newer_than_the_code_is_refused_in_one_line(database_url: str) -> None:
    job, _ = new(open_job_store(database_url))
    _set_version(database_url, len(MIGRATIONS) + 1)
    with pytest.raises(ConfigError) as caught:
        open_job_store(database_url)
    message = str(caught.value)
    assert "\n" not in message and f"schema version {len(MIGRATIONS) + 1}" in message and "upgrade veil" in message
    _set_version(database_url, len(MIGRATIONS))
    assert open_job_store(database_url).get(job.job_id) == job  # refused, not touched


def test_a_database_from_before_schema_versions_is_migrated(tmp_path: Path) -> None:
    """A job database of the first release (no version table, no ETag columns) keeps its jobs and gains the columns."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute(
            """INSERT INTO jobs (job_id, source_bucket, source_key, source_etag, output_bucket, output_prefix,
                   state, detail, attempts, max_attempts, frames_done, timings, created_at, updated_at)
               VALUES ('old', 's', 'a.mov', 'e', 'o', 'a', 'IN_PROGRESS', 'queued', 0, 3, 0, '{}', 1, 1)"""
        )
    store = open_job_store(f"sqlite:///{path}")
    assert store.get("old").output_etags is None
    claimed = store.claim("w", 30)
    assert claimed is not None and claimed.job_id == "old"
    etags = ("v1", "d1")
    assert store.succeed(
        "old", "w", output_key="v", detections_key="d", timings={}, video_metadata={}, output_etags=etags
    )
    assert store.get("old").output_etags == ("v1", "d1")


def test_replicas_starting_together_migrate_once(postgres) -> None:  # type: ignore[no-untyped-def]
    url = postgres.new_database()
    run_together([lambda: open_job_store(url).close()] * 4)
    import psycopg

    with psycopg.connect(url) as db:
        assert db.execute("SELECT version FROM veil_schema").fetchall() == [(len(MIGRATIONS),)]


def test_an_unreachable_postgresql_is_one_line_that_hides_the_password() -> None:
    from tests.s3_server import free_port

    with pytest.raises(ConfigError) as caught:
        JobStore(f"postgresql://veil:hunter2@127.0.0.1:{free_port()}/veil", timeout=1)
    assert "hunter2" not in str(caught.value) and "cannot open job database postgresql://veil:***@" in str(caught.value)


def test_a_postgresql_restart_is_survived(postgres) -> None:  # type: ignore[no-untyped-def]
    """Calls made while the server is down fail as StorageError; once it is back, the same store works again."""
    store = JobStore(postgres.new_database(), timeout=1)
    job, _ = new(store)
    postgres.stop()
    try:
        with pytest.raises(StorageError):
            store.get(job.job_id)
    finally:
        postgres.start()
    deadline = time.monotonic() + 20
    while True:  # the pool reconnects in the background, backing off from 1 s
        try:
            assert store.get(job.job_id).job_id == job.job_id
            break
        except StorageError:
            assert time.monotonic() < deadline, "the store did not reconnect within 20 s"
            time.sleep(0.2)
    store.close()


def test_a_job_handed_back_during_an_outage_waits_before_it_is_taken_again(store: JobStore) -> None:
    job, _ = new(store, max_attempts=1)
    store.claim("w", 30)
    assert store.release(job.job_id, "w", retry_in=0.5, message="waiting for storage to answer again: refused")
    waiting = store.get(job.job_id)
    assert (waiting.detail, waiting.attempts) == ("queued", 0)
    assert waiting.message == "waiting for storage to answer again: refused"
    assert store.claim("w2", 30) is None
    time.sleep(0.6)
    again = store.claim("w2", 30)
    assert again is not None and again.attempts == 1


def test_one_object_created_at_once_from_many_connections_is_one_job(database_url: str) -> None:
    """What several replicas' watchers do when they list the same new object: the unique constraint keeps one job."""
    stores = [open_job_store(database_url) for _ in range(4)]
    results: list[tuple[Job, bool]] = []
    lock = threading.Lock()

    def announce(store: JobStore) -> None:
        for _ in range(5):
            outcome = new(store, key="same.mov")
            with lock:
                results.append(outcome)

    run_together([partial(announce, store) for store in stores])
    assert len({job.job_id for job, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert len(stores[0].list()[0]) == 1
