"""The statements every SQL job store runs: one schema, portable between SQLite and PostgreSQL.

Statements are written with ``?`` placeholders; a backend that wants another
style rewrites them (no statement contains a literal ``?`` or ``%``). Times are
seconds since the epoch: leases must compare across processes and machines, so
they use the wall clock.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from veil.errors import ConfigError, JobNotFound, StorageError
from veil.jobs.models import Job, JobState, output_name
from veil.jobs.store import JobStore

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema (written with IF NOT EXISTS: databases made before versioning adopt it as is)
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
    ),
    (  # 2: the ETags of the outputs as the job published them (a job never serves a later job's objects),
        # and when a job handed back during an outage of the object store may be taken again
        "ALTER TABLE jobs ADD COLUMN video_etag TEXT",
        "ALTER TABLE jobs ADD COLUMN detections_etag TEXT",
        "ALTER TABLE jobs ADD COLUMN retry_at DOUBLE PRECISION",
        # 1 while the attempt running took the job over from one whose lease ran out
        "ALTER TABLE jobs ADD COLUMN taken_over INTEGER NOT NULL DEFAULT 0",
    ),
)
"""Schema versions: version N is ``MIGRATIONS[N - 1]``. Append, never edit one that has shipped."""

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS veil_schema (version INTEGER NOT NULL)"

# A job a worker may take (both ? are now): waiting (and not told to wait longer),
# or running under a lease that has run out.
CLAIMABLE = (
    "state = 'IN_PROGRESS' AND ((detail = 'queued' AND (retry_at IS NULL OR retry_at <= ?))"
    " OR (detail = 'running' AND lease_expires < ?))"
)
CLAIM_SET = (  # the right-hand sides see the row as it was: taken_over says whether a lease had run out
    "detail = 'running', worker_id = ?, lease_expires = ?, attempts = attempts + 1, frames_done = 0, fps = NULL,"
    " retry_at = NULL, taken_over = CASE WHEN detail = 'running' THEN 1 ELSE 0 END, updated_at = ?"
)
DETAILS = ("queued", "running", "succeeded", "failed")
_HELD = "job_id = ? AND worker_id = ? AND detail = 'running'"


def pending_migrations(found: int, url: str) -> tuple[tuple[str, ...], ...]:
    """The migrations a database at version ``found`` still needs; refuses a database newer than this code."""
    if found > len(MIGRATIONS):
        raise ConfigError(
            f"job database {url} has schema version {found}, newer than this veil's {len(MIGRATIONS)}: "
            "upgrade veil (or point it at another database)"
        )
    return MIGRATIONS[found:]


class SqlJobStore(JobStore):
    """The job store's logic over any connection that runs these statements; backends supply the connection."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed. Database errors become StorageError."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Mapping[str, Any]]:
        """Run one query; its rows by column name."""

    lock_candidate = ""
    """What the claim's inner SELECT adds so concurrent claims skip each other's candidate (PostgreSQL's
    ``FOR UPDATE SKIP LOCKED``); SQLite needs nothing: it runs one writing statement at a time."""

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
        rows: builtins.list[Mapping[str, Any]] = []
        if token is not None:
            rows = self._rows("SELECT * FROM jobs WHERE client_request_token = ?", (token,))
        if not rows:
            rows = self._rows(
                "SELECT * FROM jobs WHERE source_bucket = ? AND source_key = ? AND source_etag = ?", (bucket, key, etag)
            )
        if not rows:  # the clashing row vanished: only possible if someone deleted it by hand
            raise StorageError(f"job database {self.url}: a job for {bucket}/{key} clashed but cannot be found")
        return job_of(rows[0])

    def get(self, job_id: str) -> Job:
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
        now = time.time()
        return bool(
            self._execute(
                "UPDATE jobs SET lease_expires = ?, frames_done = ?, frames_total = ?, fps = ?, updated_at = ?"
                f" WHERE {_HELD}",
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
        now = time.time()
        video_etag, detections_etag = output_etags or (None, None)
        return bool(
            self._execute(
                f"""UPDATE jobs SET state = 'SUCCEEDED', detail = 'succeeded', message = NULL, lease_expires = NULL,
                       output_key = ?, detections_key = ?, timings = ?, video_metadata = ?,
                       video_etag = ?, detections_etag = ?,
                       frames_done = COALESCE(frames_total, frames_done), finished_at = ?, updated_at = ?
                    WHERE {_HELD}""",
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
                    WHERE {_HELD}""",
                (int(retry), int(retry), int(retry), now, message, now, job_id, worker_id),
            )
        )

    def release(self, job_id: str, worker_id: str, *, retry_in: float = 0.0, message: str | None = None) -> bool:
        now = time.time()
        return bool(
            self._execute(
                f"""UPDATE jobs SET detail = 'queued', worker_id = NULL, lease_expires = NULL,
                       attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ?,
                       retry_at = ?, message = COALESCE(?, message)
                    WHERE {_HELD}""",
                (now, now + retry_in if retry_in > 0 else None, message, job_id, worker_id),
            )
        )


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def job_of(row: Mapping[str, Any]) -> Job:
    """The Job a ``jobs`` row holds."""
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
        output_etags=(row["video_etag"], row["detections_etag"]) if row["video_etag"] else None,
        taken_over=bool(row["taken_over"]),
    )
