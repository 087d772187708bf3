"""Replicas of ``veil serve`` on one PostgreSQL database and one S3-protocol store, all real processes on loopback.

The store (moto's server) is reached through a relay that a test can cut, as a
network fault would; its output bucket keeps every version of every object, so
a test can count how often each output was published.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from tests.postgres_server import PostgresServer
from tests.replicas.proxy import Relay, relay
from tests.s3_server import s3_server
from tests.service.server import SECRETS_ENV, VeilServer

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="package")
def moto() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def store(moto: str) -> Iterator[Relay]:
    with relay(urlparse(moto).port or 80) as opened:
        yield opened


@pytest.fixture
def buckets(moto: str) -> tuple[str, str]:
    """A fresh source and output bucket; the output bucket keeps every version of its objects."""
    suffix = uuid.uuid4().hex[:8]
    source, output = f"source-{suffix}", f"output-{suffix}"
    s3 = s3_client(moto)
    for bucket in (source, output):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=output, VersioningConfiguration={"Status": "Enabled"})
    return source, output


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.new_database()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def replicas(
    tmp_path: Path, store: Relay, buckets: tuple[str, str], database: str
) -> Iterator[Callable[..., list[VeilServer]]]:
    """Start ``count`` replicas at once: each its own data folder (scratch); database, store and secrets shared."""
    started: list[VeilServer] = []
    shared = {
        **SECRETS_ENV,
        **AWS_ENV,
        "VEIL_S3_ENDPOINT": store.url,
        "VEIL_S3_REGION": "us-east-1",
        "VEIL_DATABASE_URL": database,
        "VEIL_SOURCE_BUCKET": buckets[0],
        "VEIL_OUTPUT_BUCKET": buckets[1],
        "VEIL_STOP_GRACE_SECONDS": "2",
    }

    def start(count: int = 1, **env: str) -> list[VeilServer]:
        servers = [
            VeilServer(tmp_path / f"replica-{len(started) + index}", env={**shared, **env}) for index in range(count)
        ]
        started.extend(servers)
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(VeilServer.start, servers))

    yield start
    for server in started:
        server.ensure_stopped()
