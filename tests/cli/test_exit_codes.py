"""The exit status `veil` ends with, per kind of error (the numbers scripts rely on)."""

from __future__ import annotations

import pytest

from veil.cli.exit_codes import exit_code
from veil.errors import (
    ConfigError,
    InputError,
    InvalidKey,
    JobNotFound,
    ModelError,
    ObjectNotFound,
    ObjectTooLarge,
    OutputError,
    SegmentFailed,
    StorageError,
    VeilError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("input {path} is empty (0 bytes)", path="a.mp4"), 2),
        (ConfigError("crf must be at most 51"), 2),
        (InvalidKey("object key {key!r} is absolute", key="/x"), 2),
        (ObjectTooLarge("{bucket}/{key} is too large", bucket="b", key="k"), 2),
        (OutputError("cannot write {path}: {reason}", path="out.mp4", reason="disk full"), 3),
        (ModelError("model file not found: face.onnx"), 4),
        (StorageError("cannot read b/k: connection refused"), 5),
        (ObjectNotFound("{bucket}/{key} does not exist", bucket="b", key="k"), 5),
        (JobNotFound("no job has id 'x'"), 6),
        (SegmentFailed("segment 3 failed on all 3 attempts"), 1),
        (VeilError("a worker process died before finishing its segment"), 1),
        (KeyError("tattoo"), 70),
        (ValueError("a bug"), 70),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_kind_of_error_has_its_exit_code(error: BaseException, code: int) -> None:
    assert exit_code(error) == code
