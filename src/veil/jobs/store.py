"""Job records in SQL: SQLite by default, with SQL that PostgreSQL accepts too.

Every state change is one conditional ``UPDATE`` that names the state it
expects (and the worker that holds the lease), so two workers, threads or
processes can never both take a job or both finish it: the second update
matches no row. Times are stored as seconds since the epoch (leases must be
comparable across processes, so they use the wall clock).

SQLite runs in WAL mode with a busy timeout, so a second process (a restarted
server, a CLI) can read and write the same file. One connection is shared by
the threads of a process behind a lock.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veil.errors import ConfigError, JobNotFound, StorageError, reason
from veil.jobs.models import Job, JobState, output_name

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        job_id VARCHAR(64) PRIMARY KEY,
        source_bucket TEXT NOT NULL,
        source_key TEXT NOT NULL,
        source_etag TEXT NOT NULL,
        output_bucket TEXT NOT NULL,
        output_prefix TEXT NOT NULL,
        state VARCHAR(16) NOT NULL,
        detail VARCHAR(16) NOT NULL,
        message TEXT,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        client_request_token TEXT,
        job_tag TEXT,
        worker_id TEXT,
        lease_expires DOUBLE PRECISION,
        frames_done INTEGER NOT NULL,
        frames_total INTEGER,
        fps DOUBLE PRECISION,
        timings TEXT NOT NULL,
        video_metadata TEXT,
        output_key TEXT,
        detections_key TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_source ON jobs (source_bucket, source_key, source_etag)",
    # NULLs are distinct in a unique index (SQLite and PostgreSQL): jobs without a token never clash.
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_token ON jobs (client_request_token)",
    "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (detail, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, job_id)",
)

# A job a worker may take: waiting, or running under a lease that has run out.
_CLAIMABLE = "state = 'IN_PROGRESS' AND (detail = 'queued' OR (detail = 'running' AND lease_expires < ?))"
_HELD = "job_id = ? AND worker_id = ? AND detail = 'running'"


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` or ``sqlite:///rel/path``)."""
    if url.startswith(("postgresql:", "postgres:")):
        raise ConfigError(
            "PostgreSQL job stores are not supported yet (the schema and SQL are portable, "
            "but no driver is wired in); use a sqlite:///path/to/veil.db database URL"
        )
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"database URL {url!r} is not supported; use sqlite:///path/to/veil.db")
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ConfigError(f"database URL {url!r} names no file; use sqlite:///path/to/veil.db")
    return path


class JobStore:
    """Jobs, their leases and their progress, in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        path = sqlite_path(url)
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(
                    "cannot create the folder of job database {path}: {reason}", path=path, reason=reason(error)
                ) from None
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as error:
            raise ConfigError("cannot open job database {path}: {reason}", path=path, reason=str(error)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _sql(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one thread at a time; database errors become StorageError."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as error:
                raise StorageError(f"job database {self.url}: {error}") from error

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._sql() as db:
            return db.execute(sql, params).rowcount

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[sqlite3.Row]:
        with self._sql() as db:
            return db.execute(sql, params).fetchall()

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
        rows: builtins.list[sqlite3.Row] = []
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
                    "UPDATE OR IGNORE jobs SET client_request_token = ? "
                    "WHERE job_id = ? AND client_request_token IS NULL",
                    (token, rows[0]["job_id"]),
                )
        if not rows:  # the clashing row vanished: only possible if someone deleted it by hand
            raise StorageError(f"job database {self.url}: a job for {bucket}/{key} clashed but cannot be found")
        return _job(rows[0])

    def get(self, job_id: str) -> Job:
        rows = self._rows("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        if not rows:
            raise JobNotFound(f"no job has id {job_id!r}")
        return _job(rows[0])

    def list(
        self, *, state: JobState | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[builtins.list[Job], str | None]:
        """A page of jobs, newest first, and the cursor of the next page (None after the last).

        ``after`` is a cursor from a previous call (the id of that page's last job).
        """
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
        jobs = [_job(row) for row in rows[:limit]]
        return jobs, (jobs[-1].job_id if len(rows) > limit else None)

    # -- leases ------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Take the oldest claimable job for ``lease_seconds``, counting an attempt; None if there is none."""
        now = time.time()
        self._give_up_expired(now)
        for _ in range(10):  # another process may take the candidate first; then try the next
            rows = self._rows(f"SELECT job_id FROM jobs WHERE {_CLAIMABLE} ORDER BY created_at, job_id LIMIT 1", (now,))
            if not rows:
                return None
            job_id = rows[0]["job_id"]
            taken = self._execute(
                f"""UPDATE jobs SET detail = 'running', worker_id = ?, lease_expires = ?, attempts = attempts + 1,
                       frames_done = 0, fps = NULL, updated_at = ?
                    WHERE job_id = ? AND {_CLAIMABLE}""",
                (worker_id, now + lease_seconds, now, job_id, now),
            )
            if taken:
                return self.get(job_id)
        return None

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
                f"UPDATE jobs SET lease_expires = ?, frames_done = ?, frames_total = ?, "
                f"fps = ?, updated_at = ? WHERE {_HELD}",
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
    ) -> bool:
        """Mark the job done; False (and no change) if this worker no longer holds it."""
        now = time.time()
        return bool(
            self._execute(
                f"""UPDATE jobs SET state = 'SUCCEEDED', detail = 'succeeded', message = NULL, lease_expires = NULL,
                       output_key = ?, detections_key = ?, timings = ?, video_metadata = ?,
                       frames_done = COALESCE(frames_total, frames_done), finished_at = ?, updated_at = ?
                    WHERE {_HELD}""",
                (
                    output_key,
                    detections_key,
                    json.dumps(timings),
                    json.dumps(video_metadata),
                    now,
                    now,
                    job_id,
                    worker_id,
                ),
            )
        )

    def fail(self, job_id: str, worker_id: str, message: str, *, retry: bool = True) -> bool:
        """Record a failed attempt: queued again while attempts remain (and ``retry``), else FAILED.

        False (and no change) if this worker no longer holds the job.
        """
        now = time.time()
        again = "(? = 1 AND attempts < max_attempts)"
        return bool(
            self._execute(
                f"""UPDATE jobs SET
                       state = CASE WHEN {again} THEN 'IN_PROGRESS' ELSE 'FAILED' END,
                       detail = CASE WHEN {again} THEN 'queued' ELSE 'failed' END,
                       finished_at = CASE WHEN {again} THEN NULL ELSE ? END,
                       message = ?, worker_id = NULL, lease_expires = NULL, updated_at = ?
                    WHERE {_HELD}""",
                (int(retry), int(retry), int(retry), now, message, now, job_id, worker_id),
            )
        )

    def release(self, job_id: str, worker_id: str) -> bool:
        """Put a held job back in the queue without counting the attempt (graceful shutdown)."""
        now = time.time()
        return bool(
            self._execute(
                f"""UPDATE jobs SET detail = 'queued', worker_id = NULL, lease_expires = NULL,
                       attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ?
                    WHERE {_HELD}""",
                (now, job_id, worker_id),
            )
        )


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _job(row: sqlite3.Row) -> Job:
    return Job(
        job_id=row["job_id"],
        source_bucket=row["source_bucket"],
        source_key=row["source_key"],
        source_etag=row["source_etag"],
        output_bucket=row["output_bucket"],
        output_prefix=row["output_prefix"],
        state=JobState(row["state"]),
        detail=row["detail"],
        message=row["message"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        client_request_token=row["client_request_token"],
        job_tag=row["job_tag"],
        frames_done=row["frames_done"],
        frames_total=row["frames_total"],
        fps=row["fps"],
        timings=json.loads(row["timings"]),
        video_metadata=json.loads(row["video_metadata"]) if row["video_metadata"] else None,
        created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_time(row["updated_at"]),  # type: ignore[arg-type]
        finished_at=_time(row["finished_at"]),
        output_key=row["output_key"],
        detections_key=row["detections_key"],
        worker_id=row["worker_id"],
        lease_expires_at=_time(row["lease_expires"]),
    )
