"""Stores named by value, so that another process or machine can open the same one.

An engine that runs work elsewhere (a Ray worker on another node) cannot be
handed a store object: it holds open clients and caches. It is handed a spec, a
few picklable fields whose :meth:`~StoreSpec.open` makes an equivalent store
where it lands. Credentials never travel in a spec: an S3 spec opens with the
credentials of the environment it is opened in (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role), as every AWS client does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from veil.errors import ConfigError
from veil.storage.base import ObjectStore
from veil.storage.local import LocalStore

if TYPE_CHECKING:
    from veil.storage.s3 import S3Store


class StoreSpec(Protocol):
    """A picklable description of a store; :meth:`open` connects to it in the current process."""

    def open(self) -> ObjectStore: ...


@dataclass(frozen=True)
class LocalStoreSpec:
    """Bucket folders under ``root`` (absolute): reachable from other machines only if ``root`` is shared (NFS)."""

    root: str

    def open(self) -> LocalStore:
        return LocalStore(self.root)


@dataclass(frozen=True)
class S3StoreSpec:
    """An S3-compatible endpoint (None: AWS); credentials from the opening process's environment."""

    endpoint_url: str | None
    region: str | None = None

    def open(self) -> S3Store:
        from veil.storage.s3 import S3Store  # boto3 loads only where an S3 store is opened

        return S3Store(self.endpoint_url, self.region)


def spec_of(store: ObjectStore) -> LocalStoreSpec | S3StoreSpec:
    """The spec that opens ``store`` elsewhere (an S3 store's explicit credentials are not carried)."""
    if isinstance(store, LocalStore):
        return LocalStoreSpec(str(Path(store.root).resolve()))
    from veil.storage.s3 import S3Store

    if isinstance(store, S3Store):
        return S3StoreSpec(store.endpoint_url, store.client.meta.region_name)
    raise ConfigError(f"a {type(store).__name__} cannot be opened by other processes; use a LocalStore or an S3Store")
