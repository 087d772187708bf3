"""What one running service holds: its stores, workers, watcher and image detectors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from typing import Any

from veil.errors import ObjectNotFound
from veil.jobs import Job, JobStore, WorkerPool, open_job_store
from veil.jobs.audit import SYSTEM_USER, log_created
from veil.jobs.review import ReviewStore
from veil.parallel import Engine, make_engine
from veil.parallel.staging import Scratch
from veil.service.images import ImageDetectors
from veil.service.review import ReviewService
from veil.service.settings import ServiceSettings
from veil.service.tokens import TokenCodec
from veil.service.watcher import BucketWatcher
from veil.storage import ObjectInfo, ObjectStore, open_store, spec_of

log = logging.getLogger(__name__)

HAND_BACK_SECONDS = 2.0
"""Of the stop grace period, what handing the running jobs back and exiting are left (the rest lets them finish)."""


class OutputReplaced(ObjectNotFound):
    """A job's outputs were overwritten by a job of a newer version of its source."""


@dataclass
class Service:
    """The parts of ``veil serve``, started and stopped together."""

    settings: ServiceSettings
    objects: ObjectStore
    jobs: JobStore
    images: ImageDetectors
    tokens: TokenCodec
    pool: WorkerPool
    review: ReviewService
    engine: Engine | None = None
    watcher: BucketWatcher = field(init=False)

    @classmethod
    def open(cls, settings: ServiceSettings) -> Service:
        """Connect to the stores (and the Ray cluster) and create the buckets; starts no worker yet."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        objects = open_store(settings)
        for bucket in (settings.source_bucket, settings.output_bucket):
            objects.ensure_bucket(bucket)
        jobs = open_job_store(settings.job_store_url)
        reviews = ReviewStore(settings.job_store_url)  # beside the jobs: every replica sees the same reviews
        _note_old_review_file(settings)
        engine = None
        if settings.engine == "ray":
            engine = make_engine(
                "ray",
                settings.anonymize_options().parallel.jobs,
                address=settings.ray_address,
                scratch=Scratch(spec_of(objects), settings.scratch_bucket),
                attempts=settings.max_attempts,
            )
        options = settings.anonymize_options()
        pool = WorkerPool(
            jobs,
            objects,
            workers=settings.workers,
            lease_seconds=settings.lease_seconds,
            options=options,
            write_frames=settings.write_frames,
            engine=engine,
            work_dir=settings.scratch_dir,
            audit=reviews,
        )
        return cls(
            settings=settings,
            objects=objects,
            jobs=jobs,
            images=ImageDetectors(options.detector),
            tokens=TokenCodec(settings.secret_access_key or ""),
            pool=pool,
            review=ReviewService(reviews, jobs, objects, options, settings.data_dir / "review-cache"),
            engine=engine,
        )

    def __post_init__(self) -> None:
        self.watcher = BucketWatcher(
            self.objects,
            self.settings.source_bucket,
            matches=self.settings.matches,
            submit=self.submit,
            interval=self.settings.poll_seconds,
        )

    def start(self) -> None:
        self.pool.start()
        self.watcher.start()

    def stop(self) -> None:
        """Stop within the grace period: running jobs finish, or are handed back to the queue before it ends."""
        finish = max(0.0, self.settings.stop_grace_seconds - HAND_BACK_SECONDS)
        self.watcher.stop(min(1.0, finish))
        self.pool.stop(finish)
        self.review.stop()
        if self.engine is not None:
            self.engine.close()

    def submit(
        self, info: ObjectInfo, *, token: str | None = None, tag: str | None = None, user: str = SYSTEM_USER
    ) -> tuple[Job, bool]:
        """The job of this object version (created if new) and whether it was created now.

        A new job's audit log starts with ``user`` (who asked: a reviewer, ``api-token``, or the service itself).
        """
        job, created = self.jobs.create(
            source_bucket=info.bucket,
            source_key=info.key,
            source_etag=info.etag,
            output_bucket=self.settings.output_bucket,
            client_request_token=token,
            job_tag=tag,
            max_attempts=self.settings.max_attempts,
        )
        if created:
            try:
                log_created(self.review.store, job, user)
            finally:
                self.pool.wake()
        return job, created

    def workers_alive(self) -> bool:
        return all(worker.thread.is_alive() for worker in self.pool.workers)

    def faces(self, job: Job) -> list[dict[str, Any]]:
        """The job's ``Faces[]`` in the job API's shape, sorted by ``Timestamp``."""
        self.check_outputs(job)
        return self._read_faces(job.output_bucket, job.detections_key or "", job.job_id)

    @cached_property
    def _read_faces(self) -> Callable[[str, str, str], list[dict[str, Any]]]:
        """Each job's faces read once, then served from memory while the client pages through them."""
        return lru_cache(maxsize=8)(partial(_faces, self.objects))

    def check_outputs(self, job: Job) -> None:
        """Raise OutputReplaced when the objects at a job's output keys are no longer the ones it published.

        Every version of a source publishes to the same keys; a newer version's job
        may have replaced them, and this job must not serve that version's output.
        """
        if job.output_etags is None or job.output_key is None or job.detections_key is None:
            return  # made before ETags were kept
        keys = (job.output_key, job.detections_key)
        found = tuple(self.objects.head(job.output_bucket, key).etag for key in keys)
        if found != job.output_etags:
            raise OutputReplaced(
                f"the outputs of job {job.job_id} were replaced by a newer version's of "
                f"{job.source_bucket}/{job.source_key}; ask for that version's job"
            )


def _note_old_review_file(settings: ServiceSettings) -> None:
    """Say so when DATA_DIR/review.db is left from a version that kept the reviews of a PostgreSQL job store there."""
    old = settings.data_dir / "review.db"
    if old.exists():
        log.warning(
            "%s is no longer read: reviews (users, corrections, audit logs) now live in the job database; "
            "remove it once nothing in it is needed",
            old,
        )


def _faces(objects: ObjectStore, bucket: str, key: str, job_id: str) -> list[dict[str, Any]]:
    document = json.loads(objects.get_bytes(bucket, key))
    records = ({"Timestamp": record["Timestamp"], "Face": record["Face"]} for record in document.get("Faces", []))
    return sorted(records, key=lambda record: record["Timestamp"])
