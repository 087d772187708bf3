"""A real PostgreSQL server for tests: a throw-away cluster in a temporary folder, on a free loopback port.

Uses the server binaries of Debian's ``postgresql`` package (``dev.py test`` installs
it where it is missing). PostgreSQL refuses to run as root, so under root the
cluster belongs to the ``postgres`` system user that the package creates.

>>> with postgres_server() as server:      # doctest: +SKIP
...     url = server.new_database()
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.s3_server import free_port


def server_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (Debian keeps them off the PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    return Path(folders[-1]).parent if folders else None


class PostgresServer:
    """One cluster: start, stop, restart (as an operator would), and a fresh database per test."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir, self.root = bin_dir, root
        self.data, self.log = root / "data", root / "server.log"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        subprocess.run(
            [str(self.bin_dir / command[0]), *command[1:]],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "veil", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://veil@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # a name we made
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Initialise and start a cluster; stop it and remove its folder at the end."""
    bin_dir = server_bin()
    if bin_dir is None:
        raise FileNotFoundError(
            "PostgreSQL's initdb is not installed (python3 dev.py test installs Debian's postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="veil-pg-"))
    server = PostgresServer(bin_dir, root)
    if server.user is not None:
        shutil.chown(root, server.user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
