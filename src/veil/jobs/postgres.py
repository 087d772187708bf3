"""The job store in PostgreSQL: one database shared by any number of ``veil serve`` replicas.

A pool of connections (psycopg 3) serves the threads of a process; a connection
that a restarted server broke is noticed when it is next taken from the pool and
replaced, so a replica outlives a database restart (the calls made while the
database is down fail as StorageError, and the workers and watcher retry). Claims
lock their candidate with ``FOR UPDATE SKIP LOCKED``: concurrent claims on other
replicas pass over it to the next job instead of waiting. Schema migrations run
at start-up under a transaction-scoped advisory lock, so replicas starting
together migrate once.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from veil.errors import ConfigError, StorageError, first_line
from veil.jobs.sql import VERSION_TABLE, apply_migrations
from veil.jobs.store import JobStore

MIGRATION_LOCK = 0x7665696C  # "veil": the advisory lock key held while the schema is migrated


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


class PostgresJobStore(JobStore):
    """Jobs in PostgreSQL (``postgresql://user:password@host:port/db``), through a pool of connections."""

    lock_candidate = "FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0) -> None:
        self.url = redact(url)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=timeout,
            open=False,
            name="veil-jobs",
            reconnect_timeout=30,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, int(timeout))},
            check=ConnectionPool.check_connection,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
            self._migrate()
        except (psycopg.Error, PoolTimeout) as error:
            self._pool.close()
            raise ConfigError(f"cannot open job database {self.url}: {first_line(error)}") from None
        except BaseException:
            self._pool.close()
            raise

    def _migrate(self) -> None:
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute(VERSION_TABLE)
            row: Any = connection.execute("SELECT MAX(version) AS version FROM veil_schema").fetchone()
            found = int((row or {}).get("version") or 0)
            apply_migrations(connection.execute, found, self.url, placeholder="%s")

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor on a pooled connection; database errors (and a database that is down) become StorageError."""
        try:
            with self._pool.connection() as connection, connection.cursor() as cursor:
                yield cursor
        except (psycopg.Error, PoolTimeout) as error:
            raise StorageError(f"job database {self.url}: {first_line(error)}") from error

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._cursor() as cursor:
            cursor.execute(_placeholders(sql), params)
            return cursor.rowcount

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Mapping[str, Any]]:
        with self._cursor() as cursor:
            cursor.execute(_placeholders(sql), params)
            rows: builtins.list[Mapping[str, Any]] = cursor.fetchall()
            return rows


def _placeholders(sql: str) -> Any:
    """The shared statements' ``?`` placeholders in psycopg's style."""
    return sql.replace("?", "%s")
