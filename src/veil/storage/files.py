"""Local files written the way object stores publish: complete, or not at all."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from veil.errors import StorageError, VeilError, reason
from veil.files import atomic_path

CHUNK = 1 << 20


@contextlib.contextmanager
def staged_file(destination: Path, *, bucket: str | None = None, key: str | None = None) -> Iterator[BinaryIO]:
    """Yield a file open for writing beside ``destination``; it replaces ``destination`` on success.

    A reader sees the old object (or none) until the new one is complete. Errors
    name the object ``bucket/key`` when given, never its file in the data folder.
    """
    what = "cannot write {bucket}/{key}" if bucket is not None else "cannot write {path}"
    with (
        os_errors(what, path=destination, bucket=bucket, key=key),
        atomic_path(destination) as temporary,
        open(temporary, "wb") as out,
    ):
        yield out


def copy_hashing(source: BinaryIO, out: BinaryIO) -> str:
    """Copy ``source`` to ``out``; return the MD5 hex digest of what was copied."""
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def os_errors(
    what: str, *, path: Path | None = None, bucket: str | None = None, key: str | None = None
) -> Iterator[None]:
    """Turn an OSError into a StorageError that says ``what`` failed (a message over the fields given) and why."""
    try:
        yield
    except StorageError:
        raise
    except OSError as error:
        why = error.reason if isinstance(error, VeilError) and error.reason else reason(error)
        raise StorageError(what + ": {reason}", path=path, bucket=bucket, key=key, reason=why) from error
