"""The statements every SQL job store runs: one schema, portable between SQLite and PostgreSQL.

Statements are written with ``?`` placeholders; a backend that wants another
style rewrites them (no statement contains a literal ``?`` or ``%``). Times are
seconds since the epoch: leases must compare across processes and machines, so
they use the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from veil.errors import ConfigError
from veil.jobs.models import Job, JobState

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
HELD = "job_id = ? AND worker_id = ? AND detail = 'running'"


def pending_migrations(found: int, url: str) -> tuple[tuple[str, ...], ...]:
    """The migrations a database at version ``found`` still needs; refuses a database newer than this code."""
    if found > len(MIGRATIONS):
        raise ConfigError(
            f"job database {url} has schema version {found}, newer than this veil's {len(MIGRATIONS)}: "
            "upgrade veil (or point it at another database)"
        )
    return MIGRATIONS[found:]


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


AS_STORED = (
    "job_id", "source_bucket", "source_key", "source_etag", "output_bucket", "output_prefix", "detail", "message",
    "attempts", "max_attempts", "client_request_token", "job_tag", "frames_done", "frames_total", "fps",
    "output_key", "detections_key", "worker_id",
)  # fmt: skip
"""The columns a Job field holds as they are; the others are converted by :func:`job_of`."""


def job_of(row: Mapping[str, Any]) -> Job:
    """The Job a ``jobs`` row holds."""
    created, updated = _time(row["created_at"]), _time(row["updated_at"])
    assert created is not None and updated is not None  # NOT NULL columns
    return Job(
        **{name: row[name] for name in AS_STORED},
        state=JobState(row["state"]),
        timings=json.loads(row["timings"]),
        video_metadata=json.loads(row["video_metadata"]) if row["video_metadata"] else None,
        created_at=created,
        updated_at=updated,
        finished_at=_time(row["finished_at"]),
        lease_expires_at=_time(row["lease_expires"]),
        output_etags=(row["video_etag"], row["detections_etag"]) if row["video_etag"] else None,
        taken_over=bool(row["taken_over"]),
    )


def apply_migrations(execute: Callable[..., object], found: int, url: str) -> None:
    """Run the migrations a database at version ``found`` still needs, recording each version as it lands.

    ``execute`` runs one statement with ``?`` placeholders, inside the caller's schema transaction.
    """
    for version, statements in enumerate(pending_migrations(found, url), start=found + 1):
        for statement in statements:
            execute(statement)
        execute("DELETE FROM veil_schema")
        execute("INSERT INTO veil_schema (version) VALUES (?)", (version,))
