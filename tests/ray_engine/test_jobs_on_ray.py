"""Jobs on Ray.

Progress over segments, a killed worker (acceptance 4), a segment that keeps failing, ``veil serve --engine ray``.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ray_engine.helpers import AlwaysFails, KillsItsWorkerOnce
from tests.s3_server import CREDENTIALS
from tests.segments.compare import assert_same_as_single_pass, single_pass_reference
from tests.segments.fakes import UnseenByGlances, detectors, write_clip
from tests.service.server import SECRETS_ENV, VeilServer, wait_for
from veil.jobs import Job, JobState, JobStore, WorkerPool, open_job_store, process_job
from veil.media import probe
from veil.parallel import make_engine
from veil.parallel.staging import Scratch
from veil.pipeline import AnonymizeOptions
from veil.storage import LocalStore, ObjectStore, S3Store, spec_of

KEY = "cams/clip.mp4"
VIDEO_KEY, DETECTIONS_KEY = "cams/clip/mosaic/cams/clip.mp4", "cams/clip/detections.json"


def submit(
    objects: ObjectStore, jobs: JobStore, clip: Path, buckets: tuple[str, str] = ("source", "output"), **extra: object
) -> Job:
    objects.upload(buckets[0], KEY, clip)
    job, _ = jobs.create(
        source_bucket=buckets[0],
        source_key=KEY,
        source_etag=objects.head(buckets[0], KEY).etag,
        output_bucket=buckets[1],
        **extra,
    )  # type: ignore[arg-type]
    return job


@pytest.fixture
def run_pool(jobs: JobStore, local: LocalStore) -> Iterator:  # type: ignore[type-arg]
    """Start a one-worker pool whose jobs' segments run on the test's Ray instance; finish a job; stop."""
    pools: list[WorkerPool] = []

    def run(job: Job, detectors: list[object], attempts: int = 3, **options: object) -> Job:
        engine = make_engine("ray", 2, scratch=Scratch(spec_of(local), "scratch"), attempts=attempts)
        pools.append(
            WorkerPool(
                jobs,
                local,
                workers=1,
                lease_seconds=10,
                options=AnonymizeOptions.build(**options),
                detectors=detectors,
                poll_seconds=0.1,
                engine=engine,
            )
        )
        pools[-1].start()
        wait_for(lambda: jobs.get(job.job_id).state is not JobState.IN_PROGRESS, 120, "the job to finish")
        return jobs.get(job.job_id)

    yield run
    for pool in pools:
        pool.stop()
        if pool.engine is not None:
            pool.engine.close()


def test_progress_adds_up_the_finished_segments(
    ray_cluster, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """On S3: the workers reach the store with the credentials of their environment, as on a cluster."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["secret_access_key"])
    objects = S3Store(s3_endpoint, "us-east-1")
    buckets = (f"source-{uuid.uuid4().hex[:8]}", f"output-{uuid.uuid4().hex[:8]}")
    for bucket in (*buckets, "scratch"):
        objects.ensure_bucket(bucket)
    job = submit(
        objects,
        open_job_store(f"sqlite:///{tmp_path}/veil.db"),
        write_clip(tmp_path / "clip.mp4", seconds=4.0),
        buckets,
    )
    progress: list[tuple[int, int | None]] = []
    with make_engine("ray", 2, scratch=Scratch(spec_of(objects), "scratch")) as engine:  # type: ignore[attr-defined]
        result = process_job(
            job,
            objects,
            progress=lambda done, total: progress.append((done, total)),
            engine=engine,
            options=AnonymizeOptions.build(segment_seconds=1.0, jobs=engine.jobs),
            detectors=detectors(),
        )
    assert progress == [(25, 100), (50, 100), (75, 100), (100, 100)]  # four 1 s segments of 25 frames, as each finished
    assert (result.record["output_key"], result.record["detections_key"]) == (VIDEO_KEY, DETECTIONS_KEY)
    objects.download(buckets[1], VIDEO_KEY, tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4").frame_count == 100
    assert list(objects.list_objects("scratch")) == []


def test_a_killed_worker_process_costs_a_retry_not_the_job(
    ray_cluster, local: LocalStore, jobs: JobStore, run_pool, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Acceptance 4: a Ray worker SIGKILLed mid-segment; the segment runs again and the job finishes once, right."""
    # The killer acts on a marked frame, so every frame is looked at (here and in the reference), with the
    # reference's plate detector (found at close looks only).
    source, single_video, single_json = single_pass_reference(tmp_path, detect_every=1)
    marker = tmp_path / "killed.pid"
    job = submit(local, jobs, source)
    done = run_pool(
        job, [KillsItsWorkerOnce(str(marker)), UnseenByGlances("plate", 1)], segment_seconds=1.0, jobs=2, detect_every=1
    )
    assert (done.state, done.attempts, done.message) == (JobState.SUCCEEDED, 1, None)
    killed = int(marker.read_text())
    wait_for(lambda: not alive(killed), 10, f"worker {killed} to be gone")
    assert [info.key for info in local.list_objects("output")] == [DETECTIONS_KEY, VIDEO_KEY]
    local.download("output", VIDEO_KEY, tmp_path / "out.mp4")
    local.download("output", DETECTIONS_KEY, tmp_path / "out.json")
    assert_same_as_single_pass(source, tmp_path / "out.mp4", tmp_path / "out.json", single_video, single_json)
    assert list(local.list_objects("scratch")) == []


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_segment_that_always_fails_fails_the_job_once_and_publishes_nothing(
    ray_cluster, local: LocalStore, jobs: JobStore, run_pool, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    failures = tmp_path / "failures.log"
    job = submit(local, jobs, write_clip(tmp_path / "clip.mp4", seconds=4.0), max_attempts=2)
    # 2 s segments: only the second one reaches the frames the detector fails on.
    failed = run_pool(job, [AlwaysFails(str(failures))], attempts=2, segment_seconds=2.0, jobs=2, detect_every=1)
    assert (failed.state, failed.attempts) == (JobState.FAILED, 1)  # the segment had its attempts; the job is not rerun
    assert "segment 2 of 2 failed on all 2 attempts" in (failed.message or "") and "detector crashed" in (
        failed.message or ""
    )
    assert len(failures.read_text().splitlines()) == 2
    assert list(local.list_objects("output")) == []
    assert list(local.list_objects("scratch")) == []


def test_veil_serve_runs_each_jobs_segments_on_ray(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``veil serve --engine ray`` joins a running cluster by address.

    A video dropped in the source bucket comes out whole.
    """
    import ray

    env = {
        **SECRETS_ENV,
        "VEIL_ENGINE": "ray",
        "VEIL_RAY_ADDRESS": ray.get_runtime_context().gcs_address,
        "VEIL_SEGMENT_SECONDS": "1",
        "VEIL_JOBS": "2",
    }
    server = VeilServer(tmp_path / "data", env=env).start(timeout=120)
    try:
        shutil.copy(write_clip(tmp_path / "clip.mp4", seconds=3.0), tmp_path / "data" / "source" / "drive.mp4")
        job = server.wait_finished("drive.mp4", timeout=120)
        assert job["state"] == "SUCCEEDED", job
        assert (job["progress"]["frames_done"], job["progress"]["frames_total"]) == (75, 75), job
        assert "stitch" in job["timings"]  # segmented and joined, not one pass
        assert probe(tmp_path / "data" / "output" / "drive" / "mosaic" / "drive.mp4").frame_count == 75
        assert (
            json.loads((tmp_path / "data" / "output" / "drive" / "detections.json").read_text())["VideoMetadata"][
                "FrameWidth"
            ]
            == 320
        )
        assert [p for p in (tmp_path / "data" / "veil-scratch").rglob("*") if p.is_file()] == []
        assert "on the ray engine" in server.output()
    finally:
        assert server.stop(), server.output()
