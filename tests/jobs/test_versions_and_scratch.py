"""A source replaced while its job runs, and the scratch folders that dead attempts leave (issue 12, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.test_workers import OPTIONS, VIDEO_KEY, start, submit, wait_finished
from tests.media_factory import make_clip
from veil.jobs import JobState, JobStore, WorkerPool, process_job
from veil.jobs.process import SourceReplaced
from veil.media import probe
from veil.storage import LocalStore

KEY = "in/my clip.mov"


@pytest.fixture
def pools() -> list[WorkerPool]:
    started: list[WorkerPool] = []
    yield started  # type: ignore[misc]
    for pool in started:
        pool.stop()


def test_a_source_replaced_mid_job_publishes_nothing_and_the_new_version_wins(
    local: LocalStore, jobs: JobStore, tmp_path: Path
) -> None:
    first = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "v1.mov", frames=12))
    newer = make_clip(tmp_path / "v2.mov", frames=6, size=(128, 72))

    def replace_once(done: int, total: int | None) -> None:  # the operator uploads v2 while v1's job runs
        if done and not local.exists("source", "v2-uploaded"):
            local.upload("source", KEY, newer)
            local.put_bytes("source", "v2-uploaded", b"")

    with pytest.raises(SourceReplaced, match="replaced by a newer version"):
        process_job(first, local, progress=replace_once, options=OPTIONS)
    assert list(local.list_objects("output")) == []

    second, created = jobs.create(
        source_bucket="source", source_key=KEY, source_etag=local.head("source", KEY).etag, output_bucket="output"
    )
    assert created
    result = process_job(second, local, progress=lambda done, total: None, options=OPTIONS)
    video = tmp_path / "out.mp4"
    assert local.download("output", VIDEO_KEY, video).etag == result.record["output_etags"][0]
    assert probe(video).frame_count == 6


def test_a_job_whose_source_changed_before_it_ran_fails_once_with_a_clear_message(
    local: LocalStore, jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    old = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "v1.mov", frames=6))
    new = submit(local, jobs, ("source", "output"), make_clip(tmp_path / "v2.mov", frames=4, size=(128, 72)))
    start(pools, jobs, local)
    superseded, done = wait_finished(jobs, old.job_id), wait_finished(jobs, new.job_id)
    assert (superseded.state, superseded.attempts) == (JobState.FAILED, 1)
    assert "replaced by a newer version" in (superseded.message or "")
    assert done.state is JobState.SUCCEEDED and done.output_etags is not None
    assert done.output_etags == (
        local.head("output", done.output_key or "").etag,
        local.head("output", done.detections_key or "").etag,
    )


def test_scratch_lives_in_the_work_dir_and_dead_attempts_are_swept(
    local: LocalStore, jobs: JobStore, pools: list[WorkerPool], tmp_path: Path
) -> None:
    """At start-up: every folder whose job no live lease holds. On a takeover: the dead attempt's folder."""
    work = tmp_path / "data" / "scratch"
    held, taken, gone = (
        submit(local, jobs, ("source", "output"), make_clip(tmp_path / f"{name}.mov", frames=4), key=f"{name}.mov")
        for name in ("held", "taken", "gone")
    )
    assert jobs.claim("another-replica", 60).job_id == held.job_id  # type: ignore[union-attr]  # alive elsewhere
    assert jobs.claim("killed-replica", 1.5).job_id == taken.job_id  # type: ignore[union-attr]  # until its lease ends
    leftovers = {
        job_id: work / f"veil-job-{job_id}-x1y2" for job_id in (held.job_id, taken.job_id, gone.job_id, "0" * 32)
    }
    for folder in leftovers.values():
        folder.mkdir(parents=True)
        (folder / "source.mov").write_bytes(b"un-anonymized footage")

    start(pools, jobs, local, work_dir=work)
    assert not leftovers[gone.job_id].exists() and not leftovers["0" * 32].exists()  # swept at start-up
    assert leftovers[taken.job_id].exists()  # its lease still runs: it may be at work on another replica
    done = wait_finished(jobs, taken.job_id)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2)
    assert not leftovers[taken.job_id].exists()  # swept when its lease was taken over
    assert wait_finished(jobs, gone.job_id).state is JobState.SUCCEEDED
    assert [path.name for path in work.iterdir()] == [leftovers[held.job_id].name]  # the jobs' own scratch is gone too
