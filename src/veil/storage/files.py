"""Local files written the way object stores publish: complete, or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from veil.errors import StorageError

PARTIAL_PREFIX = ".veil-partial-"
"""Names of files being written; never listed, never valid in a key."""

CHUNK = 1 << 20


@contextlib.contextmanager
def staged_file(destination: Path) -> Iterator[BinaryIO]:
    """Yield a file open for writing beside ``destination``; rename it into place on success.

    The temporary file is in the same folder, so the rename is atomic: a reader
    sees the old object (or none) until the new one is complete. Created with
    mode 0666 minus the umask, like any new file.
    """
    temporary = destination.parent / f"{PARTIAL_PREFIX}{secrets.token_hex(8)}"
    with os_errors(f"cannot write {destination}"):
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        with os_errors(f"cannot write {destination}"):
            os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


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
        reason = (error.strerror or str(error)).lower()
        raise StorageError(f"{what}: {reason}") from error
