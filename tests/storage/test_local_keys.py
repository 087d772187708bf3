"""Keys are data on the local backend: nothing can be read or written outside a bucket folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from veil.errors import InvalidKey, StorageError
from veil.storage import LocalStore

BAD_KEYS = [
    "../x",
    "/etc/passwd",
    "a/../../x",
    "a/./b",
    "a//b",
    "",
    "a\x00b",
    "..\\x",
    "dir/",
    ".veil-partial-x",
    "a/.veil-partial-1",
]


def tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "data")
    store.ensure_bucket("b")
    return store


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_and_nothing_is_written(local: LocalStore, tmp_path: Path, key: str) -> None:
    source = tmp_path / "payload.bin"
    source.write_bytes(b"payload")
    before = tree(tmp_path)
    for call in (
        lambda: local.put_bytes("b", key, b"payload"),
        lambda: local.upload("b", key, source),
        lambda: local.head("b", key),
        lambda: local.get_bytes("b", key),
        lambda: local.download("b", key, tmp_path / "got"),
        lambda: local.exists("b", key),
    ):
        with pytest.raises(InvalidKey) as caught:
            call()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, StorageError)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("bucket", ["..", ".", "a/b", "", "../data", "x\x00"])
def test_bad_bucket_names_are_refused(local: LocalStore, bucket: str) -> None:
    with pytest.raises(InvalidKey):
        local.ensure_bucket(bucket)
    with pytest.raises(InvalidKey):
        local.put_bytes(bucket, "k", b"x")


def test_a_symlink_cannot_lead_out_of_the_bucket(local: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, local.root / "b" / "link")
    with pytest.raises(InvalidKey):
        local.put_bytes("b", "link/new.txt", b"x")
    with pytest.raises(InvalidKey):
        local.get_bytes("b", "link/secret.txt")
    assert tree(outside) == ["secret.txt"]
    assert list(local.list_objects("b")) == []


def test_temporary_files_are_never_listed(local: LocalStore) -> None:
    local.put_bytes("b", "a/done.mov", b"x")
    (local.root / "b" / "a" / ".veil-partial-0123").write_bytes(b"half")
    (local.root / "b" / ".veil-partial-dir").mkdir()
    (local.root / "b" / ".veil-partial-dir" / "f.mov").write_bytes(b"half")
    assert [info.key for info in local.list_objects("b")] == ["a/done.mov"]


def test_a_key_cannot_be_both_a_file_and_a_folder(local: LocalStore) -> None:
    local.put_bytes("b", "a", b"file")
    with pytest.raises(StorageError, match="a/b"):
        local.put_bytes("b", "a/b", b"x")
    local.put_bytes("b", "c/d", b"x")
    with pytest.raises(StorageError, match="folder"):
        local.put_bytes("b", "c", b"x")


def test_etag_follows_the_content(local: LocalStore, tmp_path: Path) -> None:
    """A file copied in by hand (not through the store) gets an ETag like any object."""
    path = local.root / "b" / "hand.mov"
    path.write_bytes(b"one")
    first = local.head("b", "hand.mov").etag
    assert local.head("b", "hand.mov").etag == first
    path.write_bytes(b"two!")
    assert local.head("b", "hand.mov").etag != first
    path.write_bytes(b"one")  # the same content again: the same ETag
    assert local.head("b", "hand.mov").etag == first


def test_published_files_get_the_usual_mode(local: LocalStore) -> None:
    local.put_bytes("b", "m.txt", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert (local.root / "b" / "m.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_names_the_object_not_its_file_in_the_data_folder(
    local: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("veil.storage.local.copy_hashing", disk_full)
    source = tmp_path / "payload.bin"
    source.write_bytes(b"payload")
    with pytest.raises(StorageError) as raised:
        local.upload("b", "out/x.mp4", source)
    assert str(raised.value) == "cannot write b/out/x.mp4: no space left on device"
    assert (raised.value.bucket, raised.value.key, raised.value.reason) == ("b", "out/x.mp4", "no space left on device")
    assert not [path for path in (tmp_path / "data").rglob("*") if path.is_file()]  # nothing half-written


def test_a_missing_bucket_is_named_without_the_data_folder(local: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as raised:
        local.get_bytes("nope", "a.mp4")
    assert str(raised.value) == "nope/a.mp4 does not exist: bucket 'nope' does not exist"
    assert str(tmp_path) not in str(raised.value)
