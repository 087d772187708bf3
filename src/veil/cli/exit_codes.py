"""The one place where veil's errors become the ``veil`` command's exit codes.

Like ``veil.service.errors`` for HTTP, this maps kinds of error, not messages.
The first matching kind wins, so subclasses come before their bases.
"""

from __future__ import annotations

from veil.errors import (
    ConfigError,
    InputError,
    InvalidKey,
    JobNotFound,
    ModelError,
    ObjectTooLarge,
    OutputError,
    StorageError,
    VeilError,
)

BAD_INPUT = 2
"""The input, an option or an object name cannot be used: fix the command."""
OUTPUT_FAILED = 3
MODEL_FAILED = 4
STORAGE_FAILED = 5
JOB_NOT_FOUND = 6
OTHER_FAILURE = 1
"""A failure veil reports on purpose but does not classify (e.g. a segment that failed on every attempt)."""
INTERNAL_ERROR = 70
"""Not a VeilError: a bug (EX_SOFTWARE)."""

_CODES: tuple[tuple[type[VeilError] | tuple[type[VeilError], ...], int], ...] = (
    ((InputError, ConfigError, InvalidKey, ObjectTooLarge), BAD_INPUT),
    (OutputError, OUTPUT_FAILED),
    (ModelError, MODEL_FAILED),
    (StorageError, STORAGE_FAILED),
    (JobNotFound, JOB_NOT_FOUND),
    (VeilError, OTHER_FAILURE),
)


def exit_code(error: BaseException) -> int:
    """The exit status ``veil`` ends with when ``error`` stops it."""
    for kinds, code in _CODES:
        if isinstance(error, kinds):
            return code
    return INTERNAL_ERROR
