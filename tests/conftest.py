"""Fixtures every test package may use: a real PostgreSQL server (started once per session when asked for),
an empty database on each backend, local buckets ``source`` and ``output``, and an SQLite job store."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, postgres_server, server_bin
from veil.jobs import JobStore, open_job_store
from veil.storage import LocalStore

EXIT_GRACE_SECONDS = 60


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Watch the interpreter's exit: a thread left running by a test would otherwise hold the run open for good.

    Past the grace period every thread's stack goes to stderr and the process exits with status 1, so a
    leaked thread fails the run with the place to look instead of hanging until CI's limit.
    """

    def give_up() -> None:
        print(
            f"\ntests: the process has not exited {EXIT_GRACE_SECONDS} s after the session ended; threads:",
            file=sys.stderr,
        )
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        os._exit(1)

    watchdog = threading.Timer(EXIT_GRACE_SECONDS, give_up)
    watchdog.daemon = True
    watchdog.start()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster on loopback; skipped where the server is not installed, except in CI."""
    if server_bin() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not installed (python3 dev.py test installs it)")
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once per backend: an SQLite file, and a new database on the test PostgreSQL server."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres").new_database())
    return f"sqlite:///{tmp_path}/database/veil.db"


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "data")
    for bucket in ("source", "output"):
        store.ensure_bucket(bucket)
    return store


@pytest.fixture
def jobs(tmp_path: Path) -> JobStore:
    return open_job_store(f"sqlite:///{tmp_path}/veil.db")
