from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3_server import CREDENTIALS, s3_server


@pytest.fixture(scope="package")
def ray_cluster() -> Iterator[None]:
    """A local Ray instance with two CPUs for this package's tests (starting one takes several seconds).

    Its workers get the test S3 server's credentials in their environment, as
    the nodes of a real cluster get theirs: store specs never carry them.
    """
    import ray

    credentials = {
        "AWS_ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["secret_access_key"],
    }
    ray.init(num_cpus=2, log_to_driver=False, runtime_env={"env_vars": credentials})
    yield
    ray.shutdown()


@pytest.fixture(scope="package")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint
