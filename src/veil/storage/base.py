"""What every object store offers: a few calls, named as S3 names them.

Publishing is atomic on every backend: ``upload`` and ``put_bytes`` make the
whole object visible at once, or nothing. Listings show complete objects only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    """One object: where it is, how big, and a tag that changes when its content does.

    ``etag`` is the S3 ETag without quotes; on local folders it is the MD5 of
    the content, like a single-part S3 upload's ETag.
    """

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime


@runtime_checkable
class ObjectStore(Protocol):
    """An S3-like object store. Errors are :class:`veil.errors.StorageError` subclasses."""

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket unless it exists."""

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every complete object whose key starts with ``prefix``, in key order, all pages."""

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """The object's info; raises ObjectNotFound."""

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Write the object to ``path`` (atomically) and return the info of the bytes written."""

    def get_bytes(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        """The object's content; raises ObjectTooLarge beyond ``max_bytes``."""

    def upload(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        """Publish the file at ``path`` as the object, atomically."""

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> None:
        """Publish ``data`` as the object, atomically."""

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists."""

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object; like S3, removing a key that does not exist is not an error."""
