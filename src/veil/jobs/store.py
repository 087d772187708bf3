"""The job store: what every backend offers, and the one place a database URL is opened.

Two backends share one schema and one set of statements (``veil.jobs.sql``):
SQLite (the default, embedded: ``sqlite:///path/veil.db``) and PostgreSQL
(``postgresql://user:password@host/db``: several ``veil serve`` replicas on one
database). Every state change is one conditional statement that names the state
it expects and the worker that holds the lease, so two workers, threads, processes
or replicas can never both take a job or both finish it.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import Any

from veil.errors import ConfigError
from veil.jobs.models import Job, JobState


class JobStore(ABC):
    """Jobs, their leases and their progress, in one database shared by every worker and replica."""

    url: str

    @abstractmethod
    def create(
        self,
        *,
        source_bucket: str,
        source_key: str,
        source_etag: str,
        output_bucket: str,
        client_request_token: str | None = None,
        job_tag: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[Job, bool]:
        """Queue a job; ``(job, created)``.

        An object (bucket, key, ETag) or a request token already seen returns its job.
        """

    @abstractmethod
    def get(self, job_id: str) -> Job:
        """The job; raises JobNotFound."""

    @abstractmethod
    def list(
        self, *, state: JobState | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[builtins.list[Job], str | None]:
        """A page of jobs, newest first, and the cursor of the next page (None after the last)."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """How many jobs are in each ``detail``: queued, running, succeeded, failed (zeros included)."""

    @abstractmethod
    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Take the oldest claimable job for ``lease_seconds``, counting an attempt; None if there is none."""

    @abstractmethod
    def heartbeat(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        frames_done: int,
        frames_total: int | None,
        fps: float | None,
    ) -> bool:
        """Extend the lease and store progress; False if this worker no longer holds the job."""

    @abstractmethod
    def succeed(
        self,
        job_id: str,
        worker_id: str,
        *,
        output_key: str,
        detections_key: str,
        timings: dict[str, float],
        video_metadata: dict[str, Any],
        output_etags: tuple[str, str] | None = None,
    ) -> bool:
        """Mark the job done; False (and no change) if this worker no longer holds it.

        ``output_etags`` are the ETags of the video and detections as published,
        so that the job never serves objects that a later job wrote over them.
        """

    @abstractmethod
    def fail(self, job_id: str, worker_id: str, message: str, *, retry: bool = True) -> bool:
        """Record a failed attempt: queued again while attempts remain (and ``retry``), else FAILED."""

    @abstractmethod
    def release(self, job_id: str, worker_id: str, *, retry_in: float = 0.0, message: str | None = None) -> bool:
        """Put a held job back in the queue without counting the attempt (graceful shutdown, an outage).

        No worker takes it again for ``retry_in`` seconds; ``message`` says why it waits.
        """

    @abstractmethod
    def close(self) -> None:
        """Close the connections."""


def open_job_store(url: str) -> JobStore:
    """The store a URL names: ``sqlite:///path/veil.db`` or ``postgresql://user:password@host:port/db``."""
    if url.startswith(("postgresql://", "postgres://")):
        from veil.jobs.postgres import PostgresJobStore

        return PostgresJobStore(url)
    if url.startswith("sqlite:"):
        from veil.jobs.sqlite import SqliteJobStore

        return SqliteJobStore(url)
    raise ConfigError(
        f"database URL {url!r} is not supported; use sqlite:///path/to/veil.db or postgresql://user:password@host/db"
    )
