"""Several ``veil serve`` replicas on one database and one object store: work shared, nothing lost, nothing twice.

Real processes, a real PostgreSQL server and a real S3-protocol server, on loopback.
Tests that kill or stop a replica start their own; the others share two replicas
(``cluster``), each test under its own key prefix.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from tests.media_factory import make_clip
from tests.replicas.conftest import Cluster, Launcher, s3_client
from tests.service.server import VeilServer, wait_for
from veil.errors import StorageError
from veil.jobs import Job, JobState, JobStore
from veil.media import probe
from veil.samples import render_sample_clip

pytestmark = pytest.mark.timeout(240)

FRAMES = 600  # at 160x96: a few seconds of work per job (about 3 s in 2026-12), so a fault lands mid-job


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=FRAMES)


def all_jobs(store: JobStore, prefix: str = "") -> list[Job]:
    """Every job of keys under ``prefix`` (none while the database restarts: callers poll)."""
    try:
        return [job for job in store.list(limit=1000)[0] if job.source_key.startswith(prefix)]
    except StorageError:
        return []


def running_on(store: JobStore, server: VeilServer) -> list[Job]:
    """Jobs a replica is part-way through (worker ids name the process)."""
    assert server.process is not None
    marker = f"-{server.process.pid}-"
    return [job for job in all_jobs(store) if marker in (job.worker_id or "") and mid_frames(job)]


def part_way(store: JobStore, prefix: str) -> bool:
    return any(mid_frames(job) for job in all_jobs(store, prefix))


def mid_frames(job: Job) -> bool:
    """Running, with some frames done and some left: not yet publishing. (A job seen with all its frames done
    may be between uploading its video and its detections, where a kill rightly leaves a second copy of the
    video; the fault tests mean a job cut off mid-work.)"""
    return job.detail == "running" and 0 < job.frames_done < (job.frames_total or FRAMES)


def wait_all_finished(
    store: JobStore, count: int, prefix: str = "", timeout: float = 150, servers: Sequence[VeilServer] = ()
) -> list[Job]:
    """The jobs under ``prefix`` once ``count`` of them have ended; on a timeout, the failure shows each
    job's row and each of ``servers``' log, with its threads' stacks if it still runs."""

    def finished() -> list[Job] | None:
        jobs = all_jobs(store, prefix)
        return jobs if len(jobs) >= count and all(job.state is not JobState.IN_PROGRESS for job in jobs) else None

    try:
        return wait_for(finished, timeout, f"{count} jobs to finish", 0.3)
    except AssertionError as timed_out:
        rows = [
            f"{job.source_key}: {job.detail}, attempt {job.attempts}, {job.frames_done}/{job.frames_total} frames, "
            f"worker {job.worker_id}, message {job.message!r}"
            for job in all_jobs(store, prefix)
        ]
        logs = [server.post_mortem() for server in servers]
        raise AssertionError("\n".join([str(timed_out), *rows, *logs])) from None


def assert_published_once_and_whole(
    moto: str, bucket: str, keys: list[str], tmp_path: Path, most_versions: int = 1
) -> None:
    """Every output of these keys exists, in at most ``most_versions`` versions (1: published exactly once),
    and each video is whole."""
    s3 = s3_client(moto)
    names = [key.rsplit(".", 1)[0] for key in keys]
    versions = s3.list_object_versions(Bucket=bucket, Prefix=names[0].split("/")[0]).get("Versions", [])
    published = Counter(version["Key"] for version in versions)
    expected = {f"{name}/mosaic/{name}.mp4" for name in names} | {f"{name}/detections.json" for name in names}
    assert set(published) == expected and max(published.values()) <= most_versions, published
    for name in names:
        video = tmp_path / f"{name.replace('/', '_')}.mp4"
        s3.download_file(bucket, f"{name}/mosaic/{name}.mp4", str(video))
        assert probe(video).frame_count == FRAMES


def upload(moto: str, bucket: str, keys: list[str], clip: Path) -> None:
    s3 = s3_client(moto)
    for key in keys:
        s3.upload_file(str(clip), bucket, key)


def test_a_replica_killed_mid_job_loses_nothing(
    replicas: Launcher, moto: str, buckets: tuple[str, str], db: JobStore, clip: Path, tmp_path: Path
) -> None:
    first, second = replicas(2)
    keys = [f"cam/{index}.mp4" for index in range(6)]
    upload(moto, buckets[0], keys, clip)
    wait_for(lambda: running_on(db, first), 90, "the first replica to be part-way through a job", 0.05)
    first.kill()

    jobs = wait_all_finished(db, 6, servers=[second])
    assert sorted(job.source_key for job in jobs) == keys  # one job per object
    assert all(job.state is JobState.SUCCEEDED for job in jobs), [(job.source_key, job.message) for job in jobs]
    (taken,) = [job for job in jobs if job.attempts == 2]  # the killed replica's job, taken over
    assert taken.taken_over
    assert_published_once_and_whole(moto, buckets[1], keys, tmp_path)
    metrics = httpx.get(f"{second.url}/metrics").text
    assert "veil_lease_takeovers_total 1.0" in metrics and 'veil_jobs{state="succeeded"} 6.0' in metrics
    assert second.stop(), second.output()


def test_sigterm_hands_the_job_to_another_replica(
    replicas: Launcher, moto: str, buckets: tuple[str, str], db: JobStore, tmp_path: Path
) -> None:
    servers = replicas(2)
    upload(moto, buckets[0], ["long.mp4"], make_clip(tmp_path / "long.mp4", frames=FRAMES * 3))

    def holder() -> VeilServer | None:
        return next((server for server in servers if running_on(db, server)), None)

    first = wait_for(holder, 90, "a replica to be part-way through the job", 0.05)
    (second,) = [server for server in servers if server is not first]
    assert first.process is not None
    asked = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(30) == 0, first.output()
    assert time.monotonic() - asked < 2 + 1.5  # VEIL_STOP_GRACE_SECONDS=2
    (job,) = wait_all_finished(db, 1, servers=[second, first])
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 1)  # handed back, not counted as a failed attempt
    assert second.process is not None and f"-{second.process.pid}-" in (job.worker_id or "")
    assert second.stop(), second.output()


def test_the_same_object_announced_five_times_to_two_replicas_is_one_job(
    cluster: Cluster, moto: str, tmp_path: Path
) -> None:
    """Both watchers list the bucket and five events arrive, alternating replicas: one job (the dedup, not a lock)."""
    source = cluster.buckets[0]
    upload(moto, source, ["once/one.mp4"], make_clip(tmp_path / "short.mp4", frames=FRAMES // 8))
    head = s3_client(moto).head_object(Bucket=source, Key="once/one.mp4")
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": source},
                    "object": {"key": "once/one.mp4", "size": head["ContentLength"], "eTag": head["ETag"].strip('"')},
                },
            }
        ]
    }
    servers = cluster.servers
    answers = [servers[index % 2].api("POST", "/events/s3", json=event).json()["jobs"][0] for index in range(5)]
    assert len({answer["job_id"] for answer in answers}) == 1
    (job,) = wait_all_finished(cluster.db, 1, "once/", servers=servers)
    assert job.state is JobState.SUCCEEDED and job.job_id == answers[0]["job_id"]
    time.sleep(1)  # a few more polls of both watchers
    assert len(all_jobs(cluster.db, "once/")) == 1


def test_a_database_restart_mid_run_loses_no_job(
    cluster: Cluster,
    postgres,
    moto: str,
    clip: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    keys = [f"db/{index}.mp4" for index in range(4)]
    upload(moto, cluster.buckets[0], keys, clip)
    wait_for(lambda: part_way(cluster.db, "db/"), 90, "a job part-way", 0.05)
    postgres.stop()
    time.sleep(2)
    postgres.start()
    jobs = wait_all_finished(cluster.db, 4, "db/", servers=cluster.servers)
    assert sorted(job.source_key for job in jobs) == keys
    assert all(job.state is JobState.SUCCEEDED for job in jobs), [(job.source_key, job.message) for job in jobs]
    # The outage outlasts the 2 s lease: a job caught between its video and its detections cannot know it is
    # still its own, so its next attempt publishes the video again (whole, as before). Nothing is lost.
    assert_published_once_and_whole(moto, cluster.buckets[1], keys, tmp_path, most_versions=2)
    for server in cluster.servers:
        assert server.api("GET", "/readyz").status_code == 200


def test_an_unreachable_object_store_for_ten_seconds(cluster: Cluster, moto: str, clip: Path, tmp_path: Path) -> None:
    servers = cluster.servers
    keys = [f"net/{index}.mp4" for index in range(4)]
    upload(moto, cluster.buckets[0], keys, clip)
    wait_for(lambda: part_way(cluster.db, "net/"), 90, "a job part-way", 0.05)
    cluster.store.cut()
    try:
        wait_for(
            lambda: all(server.api("GET", "/readyz").status_code == 503 for server in servers), 15, "not ready", 0.2
        )
        time.sleep(8)
        assert [server.api("GET", "/readyz").json()["checks"]["source_bucket"] for server in servers] == [False, False]
    finally:
        cluster.store.restore()
    wait_for(lambda: all(server.api("GET", "/readyz").status_code == 200 for server in servers), 30, "ready again", 0.2)
    jobs = wait_all_finished(cluster.db, 4, "net/", servers=servers)
    assert all(job.state is JobState.SUCCEEDED for job in jobs), [(job.source_key, job.message) for job in jobs]
    # A cut between a job's video and its detections.json hands the job back; its next attempt
    # publishes the video again, whole (each object appears atomically): nothing half-written.
    assert_published_once_and_whole(moto, cluster.buckets[1], keys, tmp_path, most_versions=2)


def test_page_tokens_from_one_replica_work_on_another(cluster: Cluster, moto: str, tmp_path: Path) -> None:
    servers = cluster.servers
    clip = render_sample_clip(tmp_path / "face.mp4", seconds=0.4, size=(320, 180))
    upload(moto, cluster.buckets[0], ["faces/face.mp4"], clip)
    (job,) = wait_all_finished(cluster.db, 1, "faces/", servers=servers)
    first, other = (server.rekognition() for server in servers)
    page = first.get_face_detection(JobId=job.job_id, MaxResults=1)
    rest = other.get_face_detection(JobId=job.job_id, MaxResults=1000, NextToken=page["NextToken"])
    whole = other.get_face_detection(JobId=job.job_id, MaxResults=1000)
    assert page["Faces"] + rest["Faces"] == whole["Faces"] and len(whole["Faces"]) >= 2
    cursor = servers[0].api("GET", "/v1/jobs", params={"limit": 1}).json()["next_cursor"]
    assert cursor is not None
    listed = servers[1].api("GET", "/v1/jobs", params={"limit": 1, "cursor": cursor})
    assert listed.status_code == 200 and listed.json()["jobs"][0]["job_id"] != job.job_id
