"""The job store: the one place a database URL is opened, and the jobs kept there.

Two backends share one schema and one set of statements (``veil.jobs.sql``):
SQLite (the default, embedded: ``sqlite:///path/veil.db``) and PostgreSQL
(``postgresql://user:password@host/db``: several ``veil serve`` replicas on one
database). Every state change is one conditional statement that names the state
it expects and the worker that holds the lease, so two workers, threads, processes
or replicas can never both take a job or both finish it.

:class:`ConnectionStore` is what the job store and the review tables
(``veil.jobs.review``) have in common: a connection to either backend, and their
tables created under the schema lock when they open.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from veil.errors import ConfigError, JobNotFound, StorageError
from veil.jobs.models import Job, JobState, output_name
from veil.jobs.sql import CLAIM_SET, CLAIMABLE, DETAILS, HELD, VERSION_TABLE, apply_migrations, job_of

Rows = list[Mapping[str, Any]]
Run = Callable[..., Rows]
"""Runs one statement (``?`` placeholders) inside a schema transaction; its rows (none for DDL)."""

CONNECT_SECONDS = 10.0
"""How long opening a PostgreSQL database, or taking a pooled connection, may wait."""


class Connection(Protocol):
    """One database opened for the threads of this process: an SQLite file, or a pool of PostgreSQL connections."""

    url: str  # as messages may show it (no password)
    is_postgresql: bool

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement on its own (autocommit); the number of rows it changed."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement on its own (autocommit); its rows by column name."""

    def schema_transaction(self) -> AbstractContextManager[Run]:
        """One transaction that holds the schema lock, so processes starting together change the schema in turn."""

    def close(self) -> None: ...


def connect(url: str, what: str, *, timeout: float = CONNECT_SECONDS) -> Connection:
    """The database a URL names: ``sqlite:///path/veil.db`` or ``postgresql://user:password@host:port/db``.

    ``what`` names it in errors ("job database"); ``timeout`` is PostgreSQL's (see CONNECT_SECONDS).
    """
    if url.startswith(("postgresql://", "postgres://")):
        from veil.jobs.postgres import PostgresConnection

        return PostgresConnection(url, what, timeout=timeout)
    if url.startswith("sqlite:"):
        from veil.jobs.sqlite import SqliteConnection

        return SqliteConnection(url, what)
    raise ConfigError(
        f"database URL {url!r} is not supported; use sqlite:///path/to/veil.db or postgresql://user:password@host/db"
    )


class ConnectionStore(ABC):
    """Tables in one database, over a :class:`Connection`; created (or brought up to date) when opened.

    Every method is one statement on its own, so no transaction is ever held
    while another connection of this process (the job store's and the review
    tables' share one SQLite file) waits for it.
    """

    def __init__(self, url: str, what: str, *, timeout: float = CONNECT_SECONDS) -> None:
        self._connection = connect(url, what, timeout=timeout)
        self.url = self._connection.url
        try:
            with self._connection.schema_transaction() as run:
                self._create_schema(run)
        except StorageError as error:
            self._connection.close()
            raise ConfigError("cannot open {reason}", reason=str(error)) from None
        except BaseException:
            self._connection.close()
            raise

    @abstractmethod
    def _create_schema(self, run: Run) -> None:
        """Create (or migrate) this store's tables; ``run`` runs each statement in the schema transaction."""

    @property
    def is_postgresql(self) -> bool:
        return self._connection.is_postgresql

    def close(self) -> None:
        self._connection.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed. Database errors become StorageError."""
        return self._connection.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement; its rows by column name. Database errors become StorageError."""
        return self._connection.rows(sql, params)


class JobStore(ConnectionStore):
    """Jobs, their leases and their progress, in one database shared by every worker and replica.

    The statements of :mod:`veil.jobs.sql` run on either backend; the schema is
    migrated to this code's version when the store opens.
    """

    def __init__(self, url: str, *, timeout: float = CONNECT_SECONDS) -> None:
        super().__init__(url, "job database", timeout=timeout)

    def _create_schema(self, run: Run) -> None:
        run(VERSION_TABLE)
        found = run("SELECT MAX(version) AS version FROM veil_schema")[0]["version"]
        apply_migrations(run, int(found or 0), self.url)

    @property
    def lock_candidate(self) -> str:
        """What the claim's inner SELECT adds so concurrent claims skip each other's candidate (PostgreSQL's
        ``FOR UPDATE SKIP LOCKED``); SQLite needs nothing: it runs one writing statement at a time."""
        return "FOR UPDATE SKIP LOCKED" if self.is_postgresql else ""

    # -- creating and reading ----------------------------------------------------

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
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        now = time.time()
        job_id = uuid.uuid4().hex
        inserted = self._execute(
            """INSERT INTO jobs (job_id, source_bucket, source_key, source_etag, output_bucket, output_prefix,
                   state, detail, attempts, max_attempts, client_request_token, job_tag,
                   frames_done, timings, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, 'IN_PROGRESS', 'queued', 0, ?, ?, ?, 0, '{}', ?, ?)
               ON CONFLICT DO NOTHING""",
            (
                job_id,
                source_bucket,
                source_key,
                source_etag,
                output_bucket,
                output_name(source_key),
                max_attempts,
                client_request_token,
                job_tag,
                now,
                now,
            ),
        )
        if inserted:
            return self.get(job_id), True
        return self._existing(source_bucket, source_key, source_etag, client_request_token), False

    def _existing(self, bucket: str, key: str, etag: str, token: str | None) -> Job:
        rows: Rows = []
        if token is not None:
            rows = self._rows("SELECT * FROM jobs WHERE client_request_token = ?", (token,))
        if not rows:
            rows = self._rows(
                "SELECT * FROM jobs WHERE source_bucket = ? AND source_key = ? AND source_etag = ?", (bucket, key, etag)
            )
            if rows and token is not None and rows[0]["client_request_token"] is None:
                # The object's job was started without a token (an upload); it now answers to this one too,
                # so the token cannot later start a job on another video.
                self._execute(
                    "UPDATE jobs SET client_request_token = ? WHERE job_id = ? AND client_request_token IS NULL"
                    " AND NOT EXISTS (SELECT 1 FROM jobs AS other WHERE other.client_request_token = ?)",
                    (token, rows[0]["job_id"], token),
                )
        if not rows:  # the clashing row vanished: only possible if someone deleted it by hand
            raise StorageError(f"job database {self.url}: a job for {bucket}/{key} clashed but cannot be found")
        return job_of(rows[0])

    def get(self, job_id: str) -> Job:
        """The job; raises JobNotFound."""
        rows = self._rows("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        if not rows:
            raise JobNotFound(f"no job has id {job_id!r}")
        return job_of(rows[0])

    def list(
        self, *, state: JobState | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[builtins.list[Job], str | None]:
        """A page of jobs, newest first; ``after`` is a cursor from a previous call (the id of that page's last job)."""
        if not 1 <= limit <= 1000:
            raise ConfigError(f"limit must be between 1 and 1000, got {limit}")
        where, params = ["1 = 1"], []
        if state is not None:
            where.append("state = ?")
            params.append(JobState(state).value)
        if after is not None:
            marks = self._rows("SELECT created_at FROM jobs WHERE job_id = ?", (after,))
            if not marks:
                raise JobNotFound(f"page cursor {after!r} names no job")
            created = marks[0]["created_at"]  # the stored value: a datetime round trip would lose precision
            where.append("(created_at < ? OR (created_at = ? AND job_id < ?))")
            params += [created, created, after]
        rows = self._rows(
            f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at DESC, job_id DESC LIMIT ?",
            (*params, limit + 1),
        )
        jobs = [job_of(row) for row in rows[:limit]]
        return jobs, (jobs[-1].job_id if len(rows) > limit else None)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each ``detail``: queued, running, succeeded, failed (zeros included)."""
        found = {
            row["detail"]: row["jobs"]
            for row in self._rows("SELECT detail, COUNT(*) AS jobs FROM jobs GROUP BY detail")
        }
        return {detail: int(found.get(detail, 0)) for detail in DETAILS}

    # -- leases ------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """One statement takes the oldest claimable job: no other claim can take it between a look and a take."""
        now = time.time()
        self._give_up_expired(now)
        rows = self._rows(
            f"""UPDATE jobs SET {CLAIM_SET}
                WHERE job_id = (SELECT job_id FROM jobs WHERE {CLAIMABLE} ORDER BY created_at, job_id LIMIT 1
                                {self.lock_candidate})
                  AND {CLAIMABLE}
                RETURNING *""",
            (worker_id, now + lease_seconds, now, now, now, now, now),
        )
        return job_of(rows[0]) if rows else None

    def _give_up_expired(self, now: float) -> None:
        """Fail running jobs whose lease ran out on their last allowed attempt."""
        self._execute(
            """UPDATE jobs SET state = 'FAILED', detail = 'failed', worker_id = NULL, lease_expires = NULL,
                   message = 'gave up after ' || attempts || ' attempts: the worker running it stopped '
                             || 'renewing its lease (killed, or stuck)',
                   finished_at = ?, updated_at = ?
               WHERE state = 'IN_PROGRESS' AND detail = 'running' AND lease_expires < ? AND attempts >= max_attempts""",
            (now, now, now),
        )

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
        now = time.time()
        return bool(
            self._execute(
                "UPDATE jobs SET lease_expires = ?, frames_done = ?, frames_total = ?, fps = ?, updated_at = ?"
                f" WHERE {HELD}",
                (now + lease_seconds, frames_done, frames_total, fps, now, job_id, worker_id),
            )
        )

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
        now = time.time()
        video_etag, detections_etag = output_etags or (None, None)
        return bool(
            self._execute(
                f"""UPDATE jobs SET state = 'SUCCEEDED', detail = 'succeeded', message = NULL, lease_expires = NULL,
                       output_key = ?, detections_key = ?, timings = ?, video_metadata = ?,
                       video_etag = ?, detections_etag = ?,
                       frames_done = COALESCE(frames_total, frames_done), finished_at = ?, updated_at = ?
                    WHERE {HELD}""",
                (
                    output_key,
                    detections_key,
                    json.dumps(timings),
                    json.dumps(video_metadata),
                    video_etag,
                    detections_etag,
                    now,
                    now,
                    job_id,
                    worker_id,
                ),
            )
        )

    def fail(self, job_id: str, worker_id: str, message: str, *, retry: bool = True) -> bool:
        """Queued again while attempts remain (and ``retry``), else FAILED; False if not held by this worker."""
        now = time.time()
        again = "(? = 1 AND attempts < max_attempts)"
        return bool(
            self._execute(
                f"""UPDATE jobs SET
                       state = CASE WHEN {again} THEN 'IN_PROGRESS' ELSE 'FAILED' END,
                       detail = CASE WHEN {again} THEN 'queued' ELSE 'failed' END,
                       finished_at = CASE WHEN {again} THEN NULL ELSE ? END,
                       message = ?, worker_id = NULL, lease_expires = NULL, updated_at = ?
                    WHERE {HELD}""",
                (int(retry), int(retry), int(retry), now, message, now, job_id, worker_id),
            )
        )

    def release(self, job_id: str, worker_id: str, *, retry_in: float = 0.0, message: str | None = None) -> bool:
        """Put a held job back in the queue without counting the attempt (graceful shutdown, an outage).

        No worker takes it again for ``retry_in`` seconds; ``message`` says why it waits.
        """
        now = time.time()
        return bool(
            self._execute(
                f"""UPDATE jobs SET detail = 'queued', worker_id = NULL, lease_expires = NULL,
                       attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ?,
                       retry_at = ?, message = COALESCE(?, message)
                    WHERE {HELD}""",
                (now, now + retry_in if retry_in > 0 else None, message, job_id, worker_id),
            )
        )


def open_job_store(url: str) -> JobStore:
    """The store a URL names: ``sqlite:///path/veil.db`` or ``postgresql://user:password@host:port/db``."""
    return JobStore(url)
