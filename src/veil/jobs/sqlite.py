"""The job store in one SQLite file: the embedded default.

SQLite runs in WAL mode with a busy timeout, so a second process (a restarted
server, a CLI) can read and write the same file. One connection is shared by the
threads of a process behind a lock.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from veil.errors import ConfigError, StorageError, reason
from veil.jobs.sql import VERSION_TABLE, apply_migrations
from veil.jobs.store import JobStore


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` or ``sqlite:///rel/path``)."""
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"database URL {url!r} is not supported; use sqlite:///path/to/veil.db")
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ConfigError(f"database URL {url!r} names no file; use sqlite:///path/to/veil.db")
    return path


class SqliteConnection:
    """One SQLite file opened for this process's threads: WAL, a busy timeout, one statement at a time."""

    def __init__(self, url: str, what: str) -> None:
        self.url, self.what = url, what
        path = sqlite_path(url)
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(
                    f"cannot create the folder of {what} {{path}}: {{reason}}", path=path, reason=reason(error)
                ) from None
        self._lock = threading.Lock()
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as error:
            raise ConfigError(f"cannot open {what} {{path}}: {{reason}}", path=path, reason=str(error)) from None

    @contextmanager
    def sql(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one thread at a time; database errors become StorageError."""
        with self._lock:
            try:
                yield self.db
            except sqlite3.Error as error:
                raise StorageError(f"{self.what} {self.url}: {error}") from error

    def close(self) -> None:
        with self._lock:
            self.db.close()


class SqliteJobStore(JobStore):
    """Jobs in one SQLite file (``sqlite:///path/veil.db``), shared by this process's threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection = SqliteConnection(url, "job database")
        try:
            self._migrate()
        except sqlite3.Error as error:
            raise ConfigError("cannot open job database {path}: {reason}", path=url, reason=str(error)) from None

    def _migrate(self) -> None:
        """Bring the schema to this code's version, in one write transaction (a second process waits)."""
        db = self._connection.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(VERSION_TABLE)
            found = db.execute("SELECT MAX(version) FROM veil_schema").fetchone()[0] or 0
            apply_migrations(db.execute, found, self.url)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._connection.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._connection.sql() as db:
            return db.execute(sql, params).rowcount

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Mapping[str, Any]]:
        with self._connection.sql() as db:
            return db.execute(sql, params).fetchall()
