"""veil's errors: messages built from their fields, renamed without losing their kind, carried across processes."""

from __future__ import annotations

import pickle

from veil.errors import InputError, InvalidKey, ObjectNotFound, OutputError, StorageError, reason


def test_the_message_is_built_from_the_fields() -> None:
    error = OutputError("cannot write {path}: {reason}", path="/data/job/video.mp4", reason="no space left on device")
    assert str(error) == "cannot write /data/job/video.mp4: no space left on device"
    assert (error.path, error.reason, error.key) == ("/data/job/video.mp4", "no space left on device", None)


def test_relabel_renames_the_file_and_keeps_the_class_and_fields() -> None:
    error = InputError("input {path} is damaged: {reason}", path="/data/.scratch/veil-job-1/source.mp4", reason="eof")
    renamed = error.relabel({"/data/.scratch/veil-job-1/source.mp4": "uploads/cams/a.mp4"})
    assert type(renamed) is InputError and isinstance(renamed, ValueError)
    assert str(renamed) == "input uploads/cams/a.mp4 is damaged: eof"
    assert renamed.reason == "eof"
    assert str(error) == "input /data/.scratch/veil-job-1/source.mp4 is damaged: eof"  # the original is unchanged
    assert error.relabel({"/elsewhere.mp4": "b/k"}) is error


def test_fields_survive_pickling_as_errors_cross_worker_processes() -> None:
    error = ObjectNotFound("{bucket}/{key} does not exist", bucket="b", key="a/k.mp4")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ObjectNotFound and (copy.bucket, copy.key) == ("b", "a/k.mp4")
    assert str(copy) == "b/a/k.mp4 does not exist"


def test_braces_in_a_field_or_the_text_stay_text() -> None:
    assert str(InvalidKey("object key {key!r} is bad", key="a{key}\x00")) == "object key 'a{key}\\x00' is bad"
    assert str(StorageError("cannot read b/{x}: {reason}", reason="{path}")) == "cannot read b/{x}: {path}"


def test_reason_is_the_end_of_a_sentence() -> None:
    assert reason(PermissionError(13, "Permission denied")) == "permission denied"
    assert reason(OSError("EOF reached.")) == "EOF reached"
    assert reason(OSError()) == "OSError"
