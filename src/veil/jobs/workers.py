"""Workers on threads of this process (embedded mode): claim, process, record, repeat.

Each running job has a lease kept alive by a timer thread (which also stores the
progress the pipeline reports), so a long model load or upload never loses it.
A worker whose process is killed stops renewing; once the lease runs out,
another worker takes the job (counting an attempt). Failures that a retry cannot
fix (a file that is not a video, bad options, a missing source) fail the job at
once; anything else is retried until ``max_attempts``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from veil.detect import Detector
from veil.errors import ConfigError, InputError, ObjectNotFound, SegmentFailed, StorageError, VeilError
from veil.jobs import metrics
from veil.jobs.audit import log_processed
from veil.jobs.models import Job
from veil.jobs.process import LeaseLost, Processed, SourceReplaced, process_job
from veil.jobs.review import ReviewStore
from veil.jobs.scratch import sweep, sweep_job
from veil.jobs.store import JobStore
from veil.logs import job_context
from veil.parallel import Engine
from veil.pipeline import AnonymizeOptions
from veil.storage import ObjectStore

log = logging.getLogger(__name__)

FINAL_ERRORS = (InputError, ConfigError, ObjectNotFound, SegmentFailed, SourceReplaced)
"""Errors that would happen again on every retry (a failed segment has had its attempts already; a replaced
source has a newer job)."""


CONFIRM_RETRY_SECONDS = 0.5
"""How often a worker about to publish asks a database that did not answer again."""

STORE_RETRY_SECONDS = 3.0
"""How long a job handed back during a storage outage waits before a worker takes it again."""


class Lease:
    """Keeps one job's lease and progress up to date from a timer thread while the job runs."""

    def __init__(self, store: JobStore, job: Job, worker_id: str, lease_seconds: float) -> None:
        self.store = store
        self.job = job
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.interval = min(1.0, lease_seconds / 3)
        self.frames_done = 0
        self.frames_total: int | None = None
        self.lost = threading.Event()
        self._started = time.monotonic()
        self._held_until = self._started + lease_seconds  # as far as this worker knows
        self._finished = threading.Event()
        self._timer = threading.Thread(
            target=contextvars.copy_context().run, args=(self._beat,), name=f"veil-lease-{job.job_id[:8]}", daemon=True
        )

    def __enter__(self) -> Lease:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finished.set()
        self._timer.join()

    def progress(self, frames_done: int, frames_total: int | None) -> None:
        """The pipeline's progress callback: records the numbers; stops the run once the lease is lost."""
        self.frames_done, self.frames_total = frames_done, frames_total
        if self.lost.is_set():
            raise LeaseLost(f"job {self.job.job_id} is no longer held by {self.worker_id}")

    def renew(self) -> bool:
        """Extend the lease now and store progress; False (and ``lost`` set) once the job is not ours."""
        elapsed = time.monotonic() - self._started
        fps = round(self.frames_done / elapsed, 2) if elapsed > 0 and self.frames_done else None
        held = self.store.heartbeat(
            self.job.job_id,
            self.worker_id,
            self.lease_seconds,
            frames_done=self.frames_done,
            frames_total=self.frames_total,
            fps=fps,
        )
        if held:
            self._held_until = time.monotonic() + self.lease_seconds
        else:
            self.lost.set()
        return held

    def confirm(self) -> bool:
        """Renew now, riding out a database outage for as long as the lease is still ours.

        Before each publish step: if the database answers again before the lease
        runs out, the job is still ours and publishes once; if it does not, the
        error propagates (the job is handed back and its next attempt publishes).
        """
        while True:
            try:
                return self.renew()
            except VeilError:
                if time.monotonic() + CONFIRM_RETRY_SECONDS >= self._held_until:
                    raise
                time.sleep(CONFIRM_RETRY_SECONDS)

    def _beat(self) -> None:
        while not self._finished.wait(self.interval) and not self.lost.is_set():
            try:
                self.renew()
            except (
                VeilError
            ) as error:  # the database is busy or gone: the lease may run out, then another worker retries
                log.warning("job %s: could not renew its lease: %s", self.job.job_id, error)


class Worker:
    """One thread that runs jobs one after another."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{index}-{uuid.uuid4().hex[:6]}"
        self.thread = threading.Thread(target=self._loop, name=f"veil-worker-{index}", daemon=True)
        self.lease: Lease | None = None

    def _loop(self) -> None:
        pool = self.pool
        while not pool.stopping.is_set():
            try:
                job = pool.store.claim(self.worker_id, pool.lease_seconds)
            except VeilError as error:
                log.warning("worker %s: cannot claim jobs: %s", self.worker_id, error)
                job = None
            if job is None:
                pool.wait_for_work()
                continue
            metrics.claimed(job)
            self.run(job)

    def run(self, job: Job) -> None:
        """Process one claimed job and record how it ended (the lease is renewed until then)."""
        with job_context(job.job_id):
            self._run(job)

    def _run(self, job: Job) -> None:
        log.info(
            "job %s: %s/%s, attempt %d of %d",
            job.job_id,
            job.source_bucket,
            job.source_key,
            job.attempts,
            job.max_attempts,
        )
        with Lease(self.pool.store, job, self.worker_id, self.pool.lease_seconds) as lease:
            self.lease = lease
            try:
                if self.pool.stopping.is_set():  # stop() came between the claim and now
                    self.release()
                    return
                if self.pool.work_dir is not None:  # an earlier attempt may have died (or been stopped) mid-way
                    sweep_job(self.pool.work_dir, job.job_id)
                started = time.monotonic()
                outcome, record = self._attempt(job, lease)
                if record is not None:
                    self._record(job, record)
                seconds = time.monotonic() - started
                log.info("job %s: %s after %.1f s (%d frames)", job.job_id, outcome, seconds, lease.frames_done)
                metrics.finished(outcome, seconds, frames=lease.frames_done)
            finally:
                self.lease = None

    def _attempt(self, job: Job, lease: Lease) -> tuple[str, Callable[[], bool] | None]:
        """Run the job; return how it ended and the store call that records it (None if it is no longer ours)."""
        store, worker_id = self.pool.store, self.worker_id
        try:
            result = process_job(
                job,
                self.pool.objects,
                progress=lease.progress,
                options=self.pool.options,
                write_frames=self.pool.write_frames,
                detectors=self.pool.detectors,
                still_owner=lease.confirm,
                work_dir=self.pool.work_dir,
                engine=self.pool.engine,
            )
        except LeaseLost:
            log.info("job %s: lease lost; left to whoever holds it now", job.job_id)
            return "lost", None
        except FINAL_ERRORS as error:
            return "failed", partial(store.fail, job.job_id, worker_id, str(error), retry=False)
        except StorageError as error:  # the object store (or database) is down: not the job's fault, no attempt counted
            log.warning("job %s: handed back for %g s: %s", job.job_id, STORE_RETRY_SECONDS, error)
            metrics.retried("storage")
            message = f"waiting for storage to answer again: {error}"
            release = partial(store.release, job.job_id, worker_id, retry_in=STORE_RETRY_SECONDS, message=message)
            return "handed back", release
        except Exception as error:
            if not isinstance(error, VeilError):
                log.exception("job %s: internal error", job.job_id)
            message = str(error) if isinstance(error, VeilError) else f"internal error: {type(error).__name__}: {error}"
            if job.attempts >= job.max_attempts:
                return "failed", partial(store.fail, job.job_id, worker_id, message)
            metrics.retried("error")
            return "retried", partial(store.fail, job.job_id, worker_id, message)
        metrics.stages(result.record["timings"])
        return "succeeded", partial(self._succeed, job, result)

    def _succeed(self, job: Job, result: Processed) -> bool:
        """Record the success; then, only if the job was still ours, log how it was processed (when auditing)."""
        if not self.pool.store.succeed(job.job_id, self.worker_id, **result.record):
            return False
        audit = self.pool.audit
        if audit is not None:
            try:
                log_processed(
                    audit,
                    job.job_id,
                    self.pool.options,
                    timings=result.record["timings"],
                    input_sha256=result.input_sha256,
                    outputs_sha256=result.outputs_sha256,
                )
            except VeilError as error:  # the job is done; its first review logs it instead (veil.jobs.audit)
                log.warning("job %s: succeeded, but its audit log entry could not be written: %s", job.job_id, error)
        return True

    @staticmethod
    def _record(job: Job, record: Callable[[], bool]) -> None:
        try:
            if not record():
                log.info("job %s: lease lost before the result was recorded", job.job_id)
        except VeilError as error:  # the lease will run out and the job will be retried
            log.error("job %s: cannot record the result: %s", job.job_id, error)

    def release(self) -> None:
        """Give the running job back to the queue; the run stops at its next frame and publishes nothing."""
        lease = self.lease
        if lease is None:
            return
        lease.lost.set()
        try:
            self.pool.store.release(lease.job.job_id, self.worker_id)
        except VeilError as error:
            log.warning(
                "job %s: cannot release it (it will be retried when its lease runs out): %s", lease.job.job_id, error
            )


class WorkerPool:
    """``workers`` threads that take jobs from ``store`` and write outputs to ``objects``.

    ``options`` are the :func:`veil.anonymize` options of every job;
    ``write_frames`` also publishes every frame as PNG; ``detectors`` replaces the
    default detectors. ``poll_seconds`` is how often an idle worker looks for
    work; :meth:`wake` makes idle workers look now. ``work_dir`` is where jobs
    stage their files (default: the system's temporary folder). ``engine`` (shared
    by the workers, e.g. a Ray cluster; left open by :meth:`stop`) runs each job's
    segments; without one, each job runs as ``options`` say. With ``audit``, each
    success is also logged in the job's audit log, with the SHA-256 of its files.
    """

    def __init__(
        self,
        store: JobStore,
        objects: ObjectStore,
        *,
        workers: int,
        lease_seconds: float = 30,
        options: AnonymizeOptions | None = None,
        write_frames: bool = False,
        detectors: Sequence[Detector] | None = None,
        poll_seconds: float = 1.0,
        work_dir: Path | None = None,
        engine: Engine | None = None,
        audit: ReviewStore | None = None,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.store = store
        self.objects = objects
        self.lease_seconds = lease_seconds
        self.options = options or AnonymizeOptions()
        self.write_frames = write_frames
        self.detectors = detectors
        self.poll_seconds = poll_seconds
        self.work_dir = work_dir
        self.engine = engine
        self.audit = audit
        self.stopping = threading.Event()
        self._work = threading.Condition()
        self.workers = [Worker(self, index) for index in range(workers)]

    def start(self) -> None:
        """Sweep the scratch of dead attempts from ``work_dir``, then start the workers."""
        if self.work_dir is not None:
            sweep(self.work_dir, self.store)
        for worker in self.workers:
            worker.thread.start()

    def wake(self) -> None:
        """Tell idle workers that a job may be waiting (e.g. right after ``JobStore.create``)."""
        with self._work:
            self._work.notify_all()

    def wait_for_work(self) -> None:
        with self._work:
            if not self.stopping.is_set():
                self._work.wait(self.poll_seconds)

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking jobs; let running ones finish for up to ``timeout`` seconds (None: 0), then release them.

        A released job goes back to the queue without counting an attempt and
        its worker publishes nothing more; a later start (of this process or
        another) runs it again.
        """
        self.stopping.set()
        self.wake()
        deadline = time.monotonic() + (timeout or 0.0)
        for worker in self.workers:
            if worker.thread.is_alive():
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            if worker.thread.is_alive():
                worker.release()
        settle = time.monotonic() + 1.0  # a run stops at its next frame; a model still loading is left to finish
        for worker in self.workers:
            if worker.thread.ident is not None:
                worker.thread.join(max(0.0, settle - time.monotonic()))
