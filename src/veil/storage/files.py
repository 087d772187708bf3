"""Local files written the way object stores publish: complete, or not at all."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from veil.errors import StorageError, reason
from veil.files import atomic_path


CHUNK = 1 << 20


@contextlib.contextmanager
def staged_file(destination: Path) -> Iterator[BinaryIO]:
    """Yield a file open for writing beside ``destination``; it replaces ``destination`` on success.

    A reader sees the old object (or none) until the new one is complete.
    """
    with os_errors(f"cannot write {destination}"), atomic_path(destination) as temporary, open(temporary, "wb") as out:
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
def os_errors(what: str) -> Iterator[None]:
    """Turn an OSError into a StorageError that says what failed and why."""
    try:
        yield
    except StorageError:
        raise
    except OSError as error:
        raise StorageError(f"{what}: {{reason}}", reason=reason(error)) from error
