"""Fixtures every test package may use: a real PostgreSQL server, started once per session when asked for."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer, postgres_server, server_bin


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster on loopback; skipped where the server is not installed, except in CI."""
    if server_bin() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not installed (python3 dev.py test installs it)")
    with postgres_server() as server:
        yield server
