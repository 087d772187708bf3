"""veil's errors: each says what kind of failure it is, carries what a user needs to act, and words it from that.

Like PyAV's, every error also inherits the matching builtin, so callers can catch
either ``veil.InputError`` or ``ValueError``. Where they apply, errors carry
fields: ``path`` (the file it is about), ``bucket`` and ``key`` (the object),
``segment`` (the segment's number) and ``reason`` (why the call below failed).
The message names them in braces (``OutputError("cannot write {path}: {reason}",
path=..., reason=...)``) and is built from them, so :meth:`VeilError.relabel`
can name a file differently (a job names the object ``bucket/key``, not its
local copy) and keep the class and every other field.

What an error means to a caller lives with the caller: the CLI maps kinds to exit
codes (``veil.cli.exit_codes``), the service to HTTP statuses (``veil.service.errors``).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from typing import Self

_FIELD = re.compile(r"\{(path|bucket|key|segment|reason)(!r)?\}")


def first_line(error: BaseException, limit: int | None = 300) -> str:
    """The first line of ``error``'s message (its type's name if it has none), cut to ``limit``
    characters: what a one-line message that wraps a library's error quotes of it."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:limit]


def reason(error: BaseException) -> str:
    """Why an OS or FFmpeg call failed, as the end of a sentence: ``permission denied``.

    Its ``strerror`` (else its text) without the capital and the full stop;
    its type's name when it says nothing.
    """
    text = (getattr(error, "strerror", None) or str(error)).strip().rstrip(".")
    if not text:
        return type(error).__name__
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


class VeilError(Exception):
    """Base of every error veil raises on purpose.

    ``message`` names the fields in braces (``{path}``, ``{bucket}``, ``{key}``,
    ``{segment}``, ``{reason}``; ``{key!r}`` quotes), and those are replaced by
    their values; any other brace is text. Pass what comes from outside (a
    key, a path, a server's reason) as a field, not baked into ``message``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        bucket: str | None = None,
        key: str | None = None,
        segment: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.template = message
        self.path = None if path is None else os.fspath(path)
        self.bucket = bucket
        self.key = key
        self.segment = segment
        self.reason = reason

    def fields(self) -> dict[str, str | int | None]:
        """The fields this error carries (None where they do not apply)."""
        return {
            "path": self.path,
            "bucket": self.bucket,
            "key": self.key,
            "segment": self.segment,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        fields = self.fields()

        def value(match: re.Match[str]) -> str:
            found = fields[match[1]]
            if found is None:
                return match[0]
            return repr(found) if match[2] else str(found)

        return _FIELD.sub(value, self.template)

    def relabel(self, names: Mapping[str, str]) -> Self:
        """This error naming its file ``names[path]`` when ``names`` holds its path (else itself unchanged).

        A copy of the same class with every other field kept: how a job names the
        object a user knows (``bucket/key``) instead of its local copy.
        """
        if self.path is None or self.path not in names:
            return self
        renamed = copy.copy(self)
        renamed.path = names[self.path]
        return renamed


class InputError(VeilError, ValueError):
    """The input cannot be used: missing, unreadable, empty, corrupt or not a video."""


class OutputError(VeilError, OSError):
    """The output cannot be written (folder missing, no permission, disk full)."""


class ModelError(VeilError, RuntimeError):
    """A model file is missing or malformed, or the detector failed on a frame."""


class ConfigError(VeilError, ValueError):
    """An option or setting has a value veil cannot work with."""


class StorageError(VeilError, OSError):
    """An object store failed: unreachable endpoint, missing bucket, no permission."""


class ObjectNotFound(StorageError, FileNotFoundError):
    """The object (or its bucket) does not exist."""


class InvalidKey(StorageError, ValueError):
    """An object key or bucket name that cannot be used safely (e.g. ``../x``)."""


class JobNotFound(VeilError, LookupError):
    """No job has this id."""


class ObjectTooLarge(StorageError, ValueError):
    """An object is larger than the caller accepts (``get_bytes(max_bytes=...)``)."""


class SegmentFailed(VeilError, RuntimeError):
    """A segment of a video failed on every attempt its engine gave it (each on a fresh worker).

    Final for the job: running the whole job again would repeat those attempts.
    """
