"""Replicas of ``veil serve`` on one PostgreSQL database and one S3-protocol store, all real processes on loopback.

The store (moto's server) is reached through a relay that a test can cut, as a
network fault would; its output bucket keeps every version of every object, so
a test can count how often each output was published.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from tests.postgres_server import PostgresServer
from tests.replicas.proxy import Relay, relay
from tests.s3_server import s3_server
from tests.service.server import SECRETS_ENV, VeilServer
from veil.jobs import JobStore, open_job_store

START_SECONDS = 150.0  # a replica's imports take seconds, many more on a machine that runs other work too
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="package")
def moto() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


def new_buckets(moto: str) -> tuple[str, str]:
    """A fresh source and output bucket; the output bucket keeps every version of its objects."""
    suffix = uuid.uuid4().hex[:8]
    source, output = f"source-{suffix}", f"output-{suffix}"
    s3 = s3_client(moto)
    for bucket in (source, output):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=output, VersioningConfiguration={"Status": "Enabled"})
    return source, output


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Launcher:
    """Starts replicas on one relay (to the store), one pair of buckets and one database.

    Kills what is left at the end.
    """

    def __init__(self, folder: Path, store: Relay, buckets: tuple[str, str], database: str) -> None:
        self.folder = folder
        self.started: list[VeilServer] = []
        self.env = {
            **SECRETS_ENV,
            **AWS_ENV,
            "VEIL_S3_ENDPOINT": store.url,
            "VEIL_S3_REGION": "us-east-1",
            "VEIL_DATABASE_URL": database,
            "VEIL_SOURCE_BUCKET": buckets[0],
            "VEIL_OUTPUT_BUCKET": buckets[1],
            "VEIL_STOP_GRACE_SECONDS": "2",
        }

    def __call__(self, count: int = 1, **env: str) -> list[VeilServer]:
        """Start ``count`` replicas at once (each its own data folder, for its scratch)."""
        servers = [
            VeilServer(self.folder / f"replica-{len(self.started) + index}", env={**self.env, **env})
            for index in range(count)
        ]
        self.started.extend(servers)
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda server: server.start(START_SECONDS), servers))

    def close(self) -> None:
        for server in self.started:
            server.ensure_stopped()


@dataclass
class Cluster:
    """Two replicas kept running for the tests of one module (their start-up is most of a test's time)."""

    store: Relay
    buckets: tuple[str, str]
    db: JobStore
    servers: list[VeilServer]


# -- fresh for each test (tests that kill or stop replicas) ----------------------


@pytest.fixture
def store(moto: str) -> Iterator[Relay]:
    with relay(urlparse(moto).port or 80) as opened:
        yield opened


@pytest.fixture
def buckets(moto: str) -> tuple[str, str]:
    return new_buckets(moto)


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.new_database()


@pytest.fixture
def db(database: str) -> Iterator[JobStore]:
    """The replicas' job store, as the test reads it."""
    opened = open_job_store(database)
    yield opened
    opened.close()


@pytest.fixture
def replicas(tmp_path: Path, store: Relay, buckets: tuple[str, str], database: str) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path, store, buckets, database)
    yield launcher
    launcher.close()


# -- shared by the tests of a module ---------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, moto: str, postgres: PostgresServer) -> Iterator[Cluster]:
    database = postgres.new_database()
    with relay(urlparse(moto).port or 80) as store:
        buckets = new_buckets(moto)
        launcher = Launcher(tmp_path_factory.mktemp("cluster"), store, buckets, database)
        db = open_job_store(database)
        try:
            yield Cluster(store, buckets, db, launcher(2))
        finally:
            launcher.close()
            db.close()
