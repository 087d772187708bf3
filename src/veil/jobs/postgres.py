"""PostgreSQL: one database shared by any number of ``veil serve`` replicas (the job store and the review tables).

A pool of connections (psycopg 3) serves the threads of a process; a connection
that a restarted server broke is noticed when it is next taken from the pool and
replaced, so a replica outlives a database restart (the calls made while the
database is down fail as StorageError, and the workers and watcher retry). Claims
lock their candidate with ``FOR UPDATE SKIP LOCKED``: concurrent claims on other
replicas pass over it to the next job instead of waiting. Schemas are created and
migrated at start-up under a transaction-scoped advisory lock, so replicas
starting together change them one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from veil.errors import ConfigError, StorageError, first_line
from veil.jobs.store import Rows, Run

MIGRATION_LOCK = 0x7665696C  # "veil": the advisory lock key held while a schema is created or migrated


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


class PostgresConnection:
    """A database (``postgresql://user:password@host:port/db``) through a pool of autocommit connections."""

    is_postgresql = True

    def __init__(self, url: str, what: str, *, pool_size: int = 10, timeout: float = 10.0) -> None:
        self.url, self.what = redact(url), what
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=timeout,
            open=False,
            name="veil-db",
            reconnect_timeout=30,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, int(timeout))},
            check=ConnectionPool.check_connection,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as error:
            self._pool.close()
            raise ConfigError(f"cannot open {what} {self.url}: {first_line(error)}") from None

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors (and a database that is down) become StorageError."""
        try:
            yield
        except (psycopg.Error, PoolTimeout) as error:
            raise StorageError(f"{self.what} {self.url}: {first_line(error)}") from error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._errors(), self._pool.connection() as connection, connection.cursor() as cursor:
            cursor.execute(_placeholders(sql), params)
            return cursor.rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self._errors(), self._pool.connection() as connection, connection.cursor() as cursor:
            cursor.execute(_placeholders(sql), params)
            return _fetched(cursor)

    @contextmanager
    def schema_transaction(self) -> Iterator[Run]:
        """One transaction on one pooled connection, holding the advisory lock MIGRATION_LOCK until it ends.

        It takes no other connection from the pool while it holds the lock, so
        threads of one process opening stores together cannot wait on each other.
        """
        with self._errors(), self._pool.connection() as connection, connection.transaction():
            # A start waits a minute at most for another replica's schema change, then fails with an error.
            connection.execute("SET LOCAL lock_timeout = '60s'")
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

            def run(sql: str, params: Sequence[Any] = ()) -> Rows:
                return _fetched(connection.execute(_placeholders(sql), params))

            yield run


def _fetched(cursor: psycopg.Cursor[Any]) -> Rows:
    """The rows of the statement just run (dicts, by the pool's row factory); none for a statement without any."""
    return cursor.fetchall() if cursor.description else []


def _placeholders(sql: str) -> Any:
    """The shared statements' ``?`` placeholders in psycopg's style."""
    return sql.replace("?", "%s")
