"""Buckets as folders: bucket ``B`` is ``root/B``, key ``a/b.mov`` is ``root/B/a/b.mov``.

Keys are data, never paths: a key is split on ``/`` and every segment must be
a plain name, so no key can reach outside its bucket folder (``..``, absolute
keys, NUL, backslashes and symlinks that lead out are refused with InvalidKey).
A folder cannot hold both a file ``a`` and a file ``a/b``, so unlike S3 a local
bucket cannot store both keys. Content types are not stored.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from veil.errors import InvalidKey, ObjectNotFound, ObjectTooLarge, StorageError
from veil.files import PARTIAL_PREFIX
from veil.storage.base import ObjectInfo
from veil.storage.files import copy_hashing, md5_of, os_errors, staged_file


def key_parts(key: str) -> list[str]:
    """The folder and file names of ``key``; raises InvalidKey unless every one is a plain name."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty")
    if "\x00" in key or "\\" in key:
        raise InvalidKey("object key {key!r} contains a NUL or backslash, which local buckets refuse", key=key)
    if key.startswith("/"):
        raise InvalidKey("object key {key!r} is absolute; keys are relative to their bucket", key=key)
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidKey(
                "object key {key!r} has an empty, '.' or '..' segment, which local buckets refuse", key=key
            )
        if part.startswith(PARTIAL_PREFIX):
            raise InvalidKey(f"object key {{key!r}} uses the reserved prefix {PARTIAL_PREFIX!r}", key=key)
    return parts


def check_bucket(bucket: str) -> None:
    if not isinstance(bucket, str) or not bucket or bucket in (".", "..") or any(c in bucket for c in "/\\\x00"):
        raise InvalidKey("bucket name {bucket!r} is not a plain folder name", bucket=bucket)
    if bucket.startswith(PARTIAL_PREFIX):
        raise InvalidKey(f"bucket name {{bucket!r}} uses the reserved prefix {PARTIAL_PREFIX!r}", bucket=bucket)


class LocalStore:
    """Object storage in a folder: the embedded default."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        # MD5 per file, valid while (size, mtime_ns, inode) are unchanged.
        self._etags: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._lock = threading.Lock()

    # -- paths ---------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        check_bucket(bucket)
        folder = self.root / bucket
        if not folder.is_dir():
            raise StorageError(
                "bucket {bucket!r} does not exist", bucket=bucket, path=folder
            )  # the folder: for logs, not users
        return folder

    def _path(self, bucket: str, key: str) -> Path:
        """The file of ``key``, checked to lie inside its bucket folder even through symlinks."""
        parts = key_parts(key)
        folder = self._bucket_dir(bucket)
        path = folder.joinpath(*parts)
        inside = os.path.realpath(folder) + os.sep
        if not os.path.realpath(path).startswith(inside):
            raise InvalidKey(
                "object key {key!r} leads outside bucket {bucket!r} (through a symlink)", bucket=bucket, key=key
            )
        return path

    def _existing(self, bucket: str, key: str) -> Path:
        try:
            path = self._path(bucket, key)
        except InvalidKey:
            raise
        except StorageError as error:
            raise ObjectNotFound(
                "{bucket}/{key} does not exist: {reason}", bucket=bucket, key=key, reason=str(error)
            ) from None
        if not path.is_file():
            raise ObjectNotFound("{bucket}/{key} does not exist", bucket=bucket, key=key)
        return path

    # -- info ----------------------------------------------------------------

    def _info(self, bucket: str, key: str, path: Path, stat: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=stat.st_size,
            etag=self._etag(path, stat),
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def _etag(self, path: Path, stat: os.stat_result) -> str:
        identity = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            cached = self._etags.get(str(path))
        if cached and cached[0] == identity:
            return cached[1]
        etag = md5_of(path)
        self._remember(path, stat, etag)
        return etag

    def _remember(self, path: Path, stat: os.stat_result, etag: str) -> None:
        with self._lock:
            self._etags[str(path)] = ((stat.st_size, stat.st_mtime_ns, stat.st_ino), etag)

    # -- the interface ---------------------------------------------------------

    def ensure_bucket(self, bucket: str) -> None:
        check_bucket(bucket)
        with os_errors("cannot create bucket folder {path}", path=self.root / bucket):
            (self.root / bucket).mkdir(parents=True, exist_ok=True)

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = self._bucket_dir(bucket)
        for key in sorted(self._keys(folder, self._start(folder, prefix))):
            if not key.startswith(prefix):
                continue
            path = folder / key
            try:
                yield self._info(bucket, key, path, path.stat())
            except FileNotFoundError:
                continue  # removed while listing

    @staticmethod
    def _start(folder: Path, prefix: str) -> Path:
        """The deepest folder that can hold keys starting with ``prefix``."""
        directory = prefix.rpartition("/")[0]
        try:
            return folder.joinpath(*key_parts(directory)) if directory else folder
        except InvalidKey:
            return folder

    @staticmethod
    def _keys(folder: Path, start: Path) -> Iterator[str]:
        for directory, subfolders, files in os.walk(start):
            subfolders[:] = [name for name in subfolders if not name.startswith(PARTIAL_PREFIX)]
            for name in files:
                path = Path(directory, name)
                if name.startswith(PARTIAL_PREFIX) or path.is_symlink():
                    continue
                yield path.relative_to(folder).as_posix()

    def head(self, bucket: str, key: str) -> ObjectInfo:
        path = self._existing(bucket, key)
        with os_errors("cannot read {bucket}/{key}", bucket=bucket, key=key):
            return self._info(bucket, key, path, path.stat())

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._existing(bucket, key)
        except ObjectNotFound:
            return False
        return True

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        source_path = self._existing(bucket, key)
        path = Path(path)
        with (
            os_errors("cannot download {bucket}/{key} to {path}", bucket=bucket, key=key, path=path),
            open(source_path, "rb") as source,
        ):
            stat = os.fstat(source.fileno())  # the info of the bytes copied, even if the key is replaced meanwhile
            with staged_file(path) as out:
                etag = copy_hashing(source, out)
        self._remember(source_path, stat, etag)
        return ObjectInfo(bucket, key, stat.st_size, etag, datetime.fromtimestamp(stat.st_mtime, UTC))

    def get_bytes(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        path = self._existing(bucket, key)
        with os_errors("cannot read {bucket}/{key}", bucket=bucket, key=key), open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise ObjectTooLarge(
                    f"{{bucket}}/{{key}} is {size} bytes, more than the {max_bytes} allowed", bucket=bucket, key=key
                )
            return source.read()

    def upload(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        destination = self._writable(bucket, key)
        with (
            os_errors("cannot upload {path} to {bucket}/{key}", path=path, bucket=bucket, key=key),
            open(path, "rb") as source,
            staged_file(destination, bucket=bucket, key=key) as out,
        ):
            etag = copy_hashing(source, out)
            out.flush()
            stat = os.fstat(out.fileno())  # a rename keeps size, mtime and inode
        self._remember(destination, stat, etag)

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> None:
        destination = self._writable(bucket, key)
        with staged_file(destination, bucket=bucket, key=key) as out:
            out.write(data)

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object's file, and the folders its key made that are now empty."""
        path = self._path(bucket, key)
        folder = self._bucket_dir(bucket)
        with os_errors("cannot delete {bucket}/{key}", bucket=bucket, key=key):
            path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == folder:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (other keys live there) or already gone
                break

    def _writable(self, bucket: str, key: str) -> Path:
        destination = self._path(bucket, key)
        with os_errors(
            "cannot store {bucket}/{key} (a local bucket cannot hold both a key and keys under it as a folder)",
            bucket=bucket,
            key=key,
        ):
            destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.is_dir():
            raise StorageError(
                "cannot store {bucket}/{key}: other keys use it as a folder in this local bucket",
                bucket=bucket,
                key=key,
            )
        return destination
