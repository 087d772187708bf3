from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_server import CREDENTIALS, s3_server
from veil.storage import LocalStore, ObjectStore, S3Store


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> ObjectStore:
    if backend == "local":
        return LocalStore(tmp_path / "data")
    return S3Store(request.getfixturevalue("s3_endpoint"), **CREDENTIALS)


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    """A fresh, empty bucket (unique per test: the S3 server lives for the whole session)."""
    name = f"veil-test-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(name)
    return name
