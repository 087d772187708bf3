"""veil's errors: each says what kind of failure it is and what the user can do.

Like PyAV's, every error also inherits the matching builtin, so callers can catch
either ``veil.InputError`` or ``ValueError``. The CLI turns any ``VeilError`` into
one line and an exit code; anything else is a bug and is reported as such.
"""

from __future__ import annotations


def first_line(error: BaseException, limit: int | None = 300) -> str:
    """The first line of ``error``'s message (its type's name if it has none), cut to ``limit``
    characters: what a one-line message that wraps a library's error quotes of it."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:limit]


class VeilError(Exception):
    """Base of every error veil raises on purpose."""

    exit_code = 1


class InputError(VeilError, ValueError):
    """The input cannot be used: missing, unreadable, empty, corrupt or not a video."""

    exit_code = 2


class OutputError(VeilError, OSError):
    """The output cannot be written (folder missing, no permission, disk full)."""

    exit_code = 3


class ModelError(VeilError, RuntimeError):
    """A model file is missing or malformed, or the detector failed on a frame."""

    exit_code = 4


class ConfigError(VeilError, ValueError):
    """An option or setting has a value veil cannot work with."""

    exit_code = 2


class StorageError(VeilError, OSError):
    """An object store failed: unreachable endpoint, missing bucket, no permission."""

    exit_code = 5


class ObjectNotFound(StorageError, FileNotFoundError):
    """The object (or its bucket) does not exist."""


class InvalidKey(StorageError, ValueError):
    """An object key or bucket name that cannot be used safely (e.g. ``../x``)."""

    exit_code = 2


class JobNotFound(VeilError, LookupError):
    """No job has this id."""

    exit_code = 6


class ObjectTooLarge(StorageError, ValueError):
    """An object is larger than the caller accepts (``get_bytes(max_bytes=...)``)."""

    exit_code = 2


class SegmentFailed(VeilError, RuntimeError):
    """A segment of a video failed on every attempt its engine gave it (each on a fresh worker).

    Final for the job: running the whole job again would repeat those attempts.
    """
