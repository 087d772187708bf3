"""Review data beside the jobs, in the same database: users, sessions, corrections, renders and the audit log.

The tables live in the job store's database, on SQLite or PostgreSQL (see
:class:`veil.jobs.store.ConnectionStore`), so every replica sees the same
reviews. The SQL is kept to what both accept, except where noted: ids from
``INTEGER PRIMARY KEY AUTOINCREMENT`` (PostgreSQL: ``BIGINT GENERATED ALWAYS AS
IDENTITY``) and the triggers that make the audit log append-only (PostgreSQL: a
trigger function that raises, on ``UPDATE``, ``DELETE`` and ``TRUNCATE``).

The audit log is append-only: this class has no method that changes or removes
an event, and the database refuses ``UPDATE`` and ``DELETE`` on it. A job's
``created`` and ``processed`` events are unique (a partial unique index), so
they are logged once whoever tries. Corrections are never deleted either;
undoing one marks it undone (and logs that).
Passwords arrive here already hashed (see ``veil.service.users``); sessions are
stored by the SHA-256 of their token, so the database never holds a usable one.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from veil.jobs.store import CONNECT_SECONDS, ConnectionStore, Run

_TABLES = (
    """CREATE TABLE IF NOT EXISTS review_users (
        name VARCHAR(64) PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS review_sessions (
        token_hash VARCHAR(64) PRIMARY KEY,
        user_name VARCHAR(64) NOT NULL,
        csrf_token TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS review_corrections (
        id {id},
        job_id VARCHAR(64) NOT NULL,
        user_name VARCHAR(64) NOT NULL,
        body TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        undone_at DOUBLE PRECISION,
        undone_by VARCHAR(64)
    )""",
    "CREATE INDEX IF NOT EXISTS review_corrections_job ON review_corrections (job_id, id)",
    """CREATE TABLE IF NOT EXISTS review_renders (
        job_id VARCHAR(64) PRIMARY KEY,
        version INTEGER NOT NULL,
        state VARCHAR(16) NOT NULL,
        message TEXT,
        user_name VARCHAR(64) NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS review_cuts (
        job_id VARCHAR(64) PRIMARY KEY,
        frames TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS review_audit (
        id {id},
        job_id VARCHAR(64) NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        user_name VARCHAR(64) NOT NULL,
        event VARCHAR(32) NOT NULL,
        details TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS review_audit_job ON review_audit (job_id, id)",
    # the events a job has once (see veil.jobs.audit)
    """CREATE UNIQUE INDEX IF NOT EXISTS review_audit_once ON review_audit (job_id, event)
       WHERE event IN ('created', 'processed')""",
)


_SQLITE_APPEND_ONLY = (
    """CREATE TRIGGER IF NOT EXISTS review_audit_no_update BEFORE UPDATE ON review_audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS review_audit_no_delete BEFORE DELETE ON review_audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)  # SQLite has no TRUNCATE: a DELETE without WHERE fires the trigger too
_POSTGRESQL_APPEND_ONLY = (
    """CREATE OR REPLACE FUNCTION review_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION USING MESSAGE = 'the audit log is append-only: ' || TG_OP || ' refused';
       END $$""",
    """CREATE OR REPLACE TRIGGER review_audit_no_change BEFORE UPDATE OR DELETE ON review_audit
       FOR EACH ROW EXECUTE FUNCTION review_audit_append_only()""",
    """CREATE OR REPLACE TRIGGER review_audit_no_truncate BEFORE TRUNCATE ON review_audit
       FOR EACH STATEMENT EXECUTE FUNCTION review_audit_append_only()""",
)  # CREATE OR REPLACE TRIGGER needs PostgreSQL 14 or later


def _schema(postgresql: bool) -> tuple[str, ...]:
    """The review tables; ``postgresql`` picks that backend's ids and append-only triggers."""
    ids = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if postgresql else "INTEGER PRIMARY KEY AUTOINCREMENT"
    tables = tuple(statement.replace("{id}", ids) for statement in _TABLES)
    return tables + (_POSTGRESQL_APPEND_ONLY if postgresql else _SQLITE_APPEND_ONLY)


RENDER_STALE_SECONDS = 60.0
"""A render not touched for this long was interrupted: a renderer touches its render every few seconds.
A lease rather than "fail every running render at start-up", since replicas share the table."""

INTERRUPTED = "interrupted: the service rendering it stopped"


@dataclass(frozen=True)
class SessionRecord:
    user: str
    csrf_token: str
    expires_at: float


@dataclass(frozen=True)
class CorrectionRecord:
    """One reviewer's correction of a job (``body``: what it changes, see veil.records.review).

    An undone correction is kept, marked with who undid it and when: nothing is ever deleted.
    """

    id: int
    job_id: str
    user: str
    body: dict[str, Any]
    created_at: float
    undone_at: float | None
    undone_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "created_at": self.created_at,
            "undone": self.undone_at is not None,
            **self.body,
        }


@dataclass(frozen=True)
class RenderRecord:
    job_id: str
    version: int
    state: str  # rendering, done, failed
    message: str | None
    user: str
    updated_at: float


@dataclass(frozen=True)
class AuditEvent:
    id: int
    job_id: str
    at: float
    user: str
    event: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "user": self.user, "event": self.event, "details": self.details}


class ReviewStore(ConnectionStore):
    """Users, sessions, corrections, render states and the audit log of reviewed jobs.

    ``url`` is the job store's: ``sqlite:///path/veil.db`` or ``postgresql://...``.
    """

    def __init__(self, url: str, *, timeout: float = CONNECT_SECONDS) -> None:
        super().__init__(url, "review database", timeout=timeout)

    def _create_schema(self, run: Run) -> None:
        for statement in _schema(self.is_postgresql):
            run(statement)

    # -- users and sessions -----------------------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str) -> bool:
        """Add the user unless the name is taken; True if this call added it (one of several at once does)."""
        return bool(
            self._execute(
                "INSERT INTO review_users (name, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (name, password_hash, time.time()),
            )
        )

    def set_user(self, name: str, password_hash: str) -> bool:
        """Add the user, or set a new password; True if the user is new."""
        if self.add_user(name, password_hash):
            return True
        self._execute("UPDATE review_users SET password_hash = ? WHERE name = ?", (password_hash, name))
        return False

    def password_hash(self, name: str) -> str | None:
        rows = self._rows("SELECT password_hash FROM review_users WHERE name = ?", (name,))
        return rows[0]["password_hash"] if rows else None

    def user_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) AS n FROM review_users")[0]["n"])

    def add_session(self, token_hash: str, user: str, csrf_token: str, lifetime: float) -> None:
        now = time.time()
        self._execute("DELETE FROM review_sessions WHERE expires_at < ?", (now,))
        self._execute(
            "INSERT INTO review_sessions (token_hash, user_name, csrf_token, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_hash, user, csrf_token, now, now + lifetime),
        )

    def session(self, token_hash: str) -> SessionRecord | None:
        rows = self._rows(
            "SELECT user_name, csrf_token, expires_at FROM review_sessions WHERE token_hash = ? AND expires_at >= ?",
            (token_hash, time.time()),
        )
        return SessionRecord(rows[0]["user_name"], rows[0]["csrf_token"], rows[0]["expires_at"]) if rows else None

    def end_session(self, token_hash: str) -> None:
        self._execute("DELETE FROM review_sessions WHERE token_hash = ?", (token_hash,))

    # -- corrections --------------------------------------------------------------------------------------------

    def add_correction(self, job_id: str, user: str, body: dict[str, Any]) -> CorrectionRecord:
        rows = self._rows(
            "INSERT INTO review_corrections (job_id, user_name, body, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            (job_id, user, json.dumps(body), time.time()),
        )
        return self.correction(job_id, int(rows[0]["id"]))

    def correction(self, job_id: str, correction_id: int) -> CorrectionRecord:
        rows = self._rows("SELECT * FROM review_corrections WHERE job_id = ? AND id = ?", (job_id, correction_id))
        if not rows:
            raise KeyError(f"job {job_id} has no correction {correction_id}")
        return _correction(rows[0])

    def corrections(self, job_id: str, *, include_undone: bool = False) -> builtins.list[CorrectionRecord]:
        where = "" if include_undone else " AND undone_at IS NULL"
        rows = self._rows(f"SELECT * FROM review_corrections WHERE job_id = ?{where} ORDER BY id", (job_id,))
        return [_correction(row) for row in rows]

    def undo_correction(self, job_id: str, correction_id: int, user: str) -> bool:
        """Mark the correction undone; False if it was not active."""
        changed = self._execute(
            "UPDATE review_corrections SET undone_at = ?, undone_by = ? "
            "WHERE job_id = ? AND id = ? AND undone_at IS NULL",
            (time.time(), user, job_id, correction_id),
        )
        return changed == 1

    # -- renders ------------------------------------------------------------------------------------------------

    def render(self, job_id: str) -> RenderRecord | None:
        """The job's last render; one whose replica stopped touching it is marked failed first."""
        self._execute(
            "UPDATE review_renders SET state = 'failed', message = ?, updated_at = ? "
            "WHERE job_id = ? AND state = 'rendering' AND updated_at < ?",
            (INTERRUPTED, time.time(), job_id, time.time() - RENDER_STALE_SECONDS),
        )
        rows = self._rows("SELECT * FROM review_renders WHERE job_id = ?", (job_id,))
        return _render(rows[0]) if rows else None

    def start_render(self, job_id: str, user: str) -> int | None:
        """Claim the job's next render version; None while one is rendering (and touched in time)."""
        now = time.time()
        self._execute(
            "INSERT INTO review_renders (job_id, version, state, user_name, updated_at) "
            "VALUES (?, 0, 'done', ?, ?) ON CONFLICT DO NOTHING",
            (job_id, user, now),
        )
        rows = self._rows(
            "UPDATE review_renders SET version = version + 1, state = 'rendering', message = NULL, "
            "user_name = ?, updated_at = ? WHERE job_id = ? AND (state <> 'rendering' OR updated_at < ?) "
            "RETURNING version",
            (user, now, job_id, now - RENDER_STALE_SECONDS),
        )
        return int(rows[0]["version"]) if rows else None

    def finish_render(self, job_id: str, version: int, message: str | None = None) -> None:
        state = "failed" if message else "done"
        self._execute(
            "UPDATE review_renders SET state = ?, message = ?, updated_at = ? WHERE job_id = ? AND version = ?",
            (state, message, time.time(), job_id, version),
        )

    def touch_render(self, job_id: str, version: int) -> None:
        """Say that render ``version`` is still running: renders not touched for RENDER_STALE_SECONDS count
        as interrupted (their replica stopped), so any replica may mark them failed and render again."""
        self._execute(
            "UPDATE review_renders SET updated_at = ? WHERE job_id = ? AND version = ? AND state = 'rendering'",
            (time.time(), job_id, version),
        )

    # -- cuts ---------------------------------------------------------------------------------------------------

    def set_cuts(self, job_id: str, frames: builtins.list[int]) -> None:
        self._execute(
            "INSERT INTO review_cuts (job_id, frames) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE SET frames = ?",
            (job_id, json.dumps(frames), json.dumps(frames)),
        )

    def cuts(self, job_id: str) -> builtins.list[int] | None:
        """The frames that start a shot, once known (None before the job's video was scanned)."""
        rows = self._rows("SELECT frames FROM review_cuts WHERE job_id = ?", (job_id,))
        return [int(frame) for frame in json.loads(rows[0]["frames"])] if rows else None

    # -- the audit log ------------------------------------------------------------------------------------------

    def log(self, job_id: str, user: str, event: str, details: dict[str, Any], at: float | None = None) -> bool:
        """Append an event; False (nothing written) for a second ``created`` or ``processed`` of one job."""
        return bool(
            self._execute(
                "INSERT INTO review_audit (job_id, at, user_name, event, details) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (job_id, time.time() if at is None else at, user, event, json.dumps(details, sort_keys=True)),
            )
        )

    def events(self, job_id: str) -> builtins.list[AuditEvent]:
        rows = self._rows("SELECT * FROM review_audit WHERE job_id = ? ORDER BY id", (job_id,))
        return [
            AuditEvent(row["id"], row["job_id"], row["at"], row["user_name"], row["event"], json.loads(row["details"]))
            for row in rows
        ]


def _correction(row: Mapping[str, Any]) -> CorrectionRecord:
    return CorrectionRecord(
        id=row["id"],
        job_id=row["job_id"],
        user=row["user_name"],
        body=json.loads(row["body"]),
        created_at=row["created_at"],
        undone_at=row["undone_at"],
        undone_by=row["undone_by"],
    )


def _render(row: Mapping[str, Any]) -> RenderRecord:
    return RenderRecord(
        row["job_id"], row["version"], row["state"], row["message"], row["user_name"], row["updated_at"]
    )
