"""One SQLite file, the embedded default database of the job store and the review tables.

SQLite runs in WAL mode with a busy timeout, so a second process (a restarted
server, a CLI) or a second connection of this one (the review tables' beside the
job store's) can read and write the same file. Statements run one at a time
(autocommit): the only transaction is the short one that creates the schema.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from veil.errors import ConfigError, StorageError, reason
from veil.jobs.store import Rows, Run

BUSY_SECONDS = 30.0
"""How long a statement waits for another connection's write lock before it fails with "database is locked"."""


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

    is_postgresql = False

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
            self.db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            _use_wal(self.db)
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

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.sql() as db:
            return db.execute(sql, params).rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self.sql() as db:
            return db.execute(sql, params).fetchall()

    @contextmanager
    def schema_transaction(self) -> Iterator[Run]:
        """``BEGIN IMMEDIATE``: the file's write lock, so another process creating the schema waits (busy timeout)."""
        with self.sql() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, params=(): db.execute(sql, params).fetchall()
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.db.close()


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL (once per file; later connections find it so).

    Connections switching a new file at the same moment can deadlock, and SQLite
    then answers "database is locked" at once instead of waiting: try again, for
    as long as the busy timeout would have waited.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
