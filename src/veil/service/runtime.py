"""What one running service holds: its stores, workers, watcher and image detectors."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from typing import Any

from veil.jobs import Job, JobStore, WorkerPool
from veil.jobs.review import ReviewStore
from veil.parallel import Engine, make_engine
from veil.parallel.staging import Scratch
from veil.service.images import ImageDetectors
from veil.service.review import ReviewService
from veil.service.settings import ServiceSettings
from veil.service.tokens import TokenCodec
from veil.service.watcher import BucketWatcher
from veil.storage import ObjectInfo, ObjectStore, open_store, spec_of

STOP_TIMEOUT = 10.0
"""Seconds a graceful shutdown lets running jobs finish before releasing them."""


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
        jobs = JobStore(settings.job_store_url)
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
        )
        return cls(
            settings=settings,
            objects=objects,
            jobs=jobs,
            images=ImageDetectors(options.detector),
            tokens=TokenCodec(settings.secret_access_key or ""),
            pool=pool,
            review=ReviewService(
                ReviewStore(settings.job_store_url), jobs, objects, options, settings.data_dir / "review-cache"
            ),
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
        self.watcher.stop(STOP_TIMEOUT)
        self.pool.stop(STOP_TIMEOUT)
        self.review.stop()
        if self.engine is not None:
            self.engine.close()

    def submit(self, info: ObjectInfo, *, token: str | None = None, tag: str | None = None) -> tuple[Job, bool]:
        """The job of this object version (created if new) and whether it was created now."""
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
            self.pool.wake()
        return job, created

    def workers_alive(self) -> bool:
        return all(worker.thread.is_alive() for worker in self.pool.workers)

    def faces(self, job: Job) -> list[dict[str, Any]]:
        """The job's ``Faces[]`` in the job API's shape, sorted by ``Timestamp``."""
        return self._read_faces(job.output_bucket, job.detections_key or "", job.job_id)

    @cached_property
    def _read_faces(self) -> Callable[[str, str, str], list[dict[str, Any]]]:
        """Each job's faces read once, then served from memory while the client pages through them."""
        return lru_cache(maxsize=8)(partial(_faces, self.objects))


def _faces(objects: ObjectStore, bucket: str, key: str, job_id: str) -> list[dict[str, Any]]:
    document = json.loads(objects.get_bytes(bucket, key))
    records = ({"Timestamp": record["Timestamp"], "Face": record["Face"]} for record in document.get("Faces", []))
    return sorted(records, key=lambda record: record["Timestamp"])
