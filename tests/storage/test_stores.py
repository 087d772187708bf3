"""The same behaviour from every backend: local folders and a real S3-protocol server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.s3_server import CREDENTIALS
from veil.errors import ObjectNotFound, ObjectTooLarge, StorageError
from veil.storage import LocalStore, ObjectStore, S3Store, open_store

MIB = 1 << 20


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_put_then_read_back(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "clips/one.mov", b"first object")
    info = store.head(bucket, "clips/one.mov")
    assert (info.bucket, info.key, info.size) == (bucket, "clips/one.mov", 12)
    assert info.etag == md5(b"first object")  # local ETags match single-part S3 ETags
    assert info.last_modified.tzinfo is not None
    assert store.get_bytes(bucket, "clips/one.mov") == b"first object"
    assert store.exists(bucket, "clips/one.mov")
    assert not store.exists(bucket, "clips/two.mov")


def test_upload_and_download_a_file(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 7)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    store.upload(bucket, "big/file.bin", source, "application/octet-stream")
    target = tmp_path / "out" / "copy.bin"
    target.parent.mkdir()
    info = store.download(bucket, "big/file.bin", target)
    assert target.read_bytes() == data
    assert info == store.head(bucket, "big/file.bin")
    assert info.size == len(data)
    assert os.listdir(target.parent) == ["copy.bin"]  # no temporary file left beside it


def test_overwrite_changes_content_and_etag(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "k.txt", b"old")
    before = store.head(bucket, "k.txt").etag
    store.put_bytes(bucket, "k.txt", b"new content")
    assert store.get_bytes(bucket, "k.txt") == b"new content"
    assert store.head(bucket, "k.txt").etag != before


def test_same_content_has_the_same_etag(store: ObjectStore, bucket: str) -> None:
    """Copying the same file again must not look like a new object (trigger deduplication relies on it)."""
    store.put_bytes(bucket, "a.mov", b"video bytes")
    first = store.head(bucket, "a.mov").etag
    store.put_bytes(bucket, "a.mov", b"video bytes")
    assert store.head(bucket, "a.mov").etag == first


def test_list_is_sorted_filtered_and_complete(store: ObjectStore, bucket: str) -> None:
    keys = ["b.mov", "a/x.mp4", "a/y y.mov", "ab.mov", "a/sub/z.mkv", "ünï/cödé.mov"]
    for key in keys:
        store.put_bytes(bucket, key, key.encode())
    listed = list(store.list_objects(bucket))
    assert [info.key for info in listed] == sorted(keys)
    assert all(info.size == len(info.key.encode()) and info.etag == md5(info.key.encode()) for info in listed)
    assert [info.key for info in store.list_objects(bucket, "a/")] == ["a/sub/z.mkv", "a/x.mp4", "a/y y.mov"]
    assert [info.key for info in store.list_objects(bucket, "a")] == ["a/sub/z.mkv", "a/x.mp4", "a/y y.mov", "ab.mov"]
    assert [info.key for info in store.list_objects(bucket, "a/s")] == ["a/sub/z.mkv"]
    assert list(store.list_objects(bucket, "nothing/")) == []


def test_keys_with_spaces_and_unicode(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    key = "uploads/my holiday 2024/café – 東京.mov"
    source = tmp_path / "in.bin"
    source.write_bytes(b"abc")
    store.upload(bucket, key, source)
    assert store.head(bucket, key).size == 3
    assert store.download(bucket, key, tmp_path / "back.bin").key == key
    assert [info.key for info in store.list_objects(bucket, "uploads/")] == [key]


def test_missing_objects(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    for read in (
        lambda: store.head(bucket, "missing.mov"),
        lambda: store.get_bytes(bucket, "missing.mov"),
        lambda: store.download(bucket, "missing.mov", tmp_path / "x"),
        lambda: store.head("veil-no-such-bucket", "missing.mov"),
    ):
        with pytest.raises(ObjectNotFound) as caught:
            read()
        assert isinstance(caught.value, FileNotFoundError)
        assert "missing.mov" in str(caught.value)
    assert not (tmp_path / "x").exists()
    assert not store.exists(bucket, "missing.mov")
    assert not store.exists("veil-no-such-bucket", "missing.mov")


def test_missing_bucket_is_a_clear_storage_error(store: ObjectStore) -> None:
    with pytest.raises(StorageError, match="veil-no-such-bucket"):
        list(store.list_objects("veil-no-such-bucket"))
    with pytest.raises(StorageError, match="veil-no-such-bucket"):
        store.put_bytes("veil-no-such-bucket", "k", b"x")


def test_get_bytes_refuses_large_objects(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "img.png", b"x" * 100)
    assert len(store.get_bytes(bucket, "img.png", max_bytes=100)) == 100
    with pytest.raises(ObjectTooLarge, match="100 bytes"):
        store.get_bytes(bucket, "img.png", max_bytes=99)


def test_ensure_bucket_is_idempotent(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "keep.txt", b"x")
    store.ensure_bucket(bucket)
    assert store.exists(bucket, "keep.txt")


def test_readers_never_see_a_partial_upload(store: ObjectStore, bucket: str, tmp_path: Path, backend: str) -> None:
    """While uploads are in flight, listings and heads show the whole object or nothing.

    The test also proves the reader really ran during an upload: it saw the
    upload's hidden temporary file (local) or the open multipart upload (S3).
    """
    if isinstance(store, S3Store):  # force a multipart upload (parts of 8 MiB)
        store = S3Store(store.endpoint_url, **CREDENTIALS, multipart_threshold=5 * MIB)
    size = 15 * MIB
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    stop, overlapped, bad = threading.Event(), threading.Event(), []

    def in_flight() -> bool:
        if isinstance(store, LocalStore):
            return any(name.startswith(".veil-partial-") for name in os.listdir(store.root / bucket))
        return bool(store.client.list_multipart_uploads(Bucket=bucket).get("Uploads"))

    def read() -> None:
        while not stop.is_set():
            if in_flight():
                overlapped.set()
            bad.extend(info for info in store.list_objects(bucket) if info.size != size)
            if store.exists(bucket, "big.bin") and store.head(bucket, "big.bin").size != size:
                bad.append("head")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(30):
            store.upload(bucket, "big.bin", source)
            if overlapped.is_set():
                break
    finally:
        stop.set()
        reader.join()
    assert overlapped.is_set(), "the reader never ran while an upload was in flight"
    assert bad == []
    assert [info.key for info in store.list_objects(bucket)] == ["big.bin"]


def test_s3_lists_every_page(s3_endpoint: str) -> None:
    store = S3Store(s3_endpoint, **CREDENTIALS, page_size=3)
    bucket = f"veil-pages-{uuid.uuid4().hex[:8]}"
    store.ensure_bucket(bucket)
    keys = [f"k{index:02d}.mov" for index in range(10)]
    for key in keys:
        store.put_bytes(bucket, key, b"x")
    calls = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kwargs: calls.append(kwargs["params"]))
    assert [info.key for info in store.list_objects(bucket)] == keys
    assert len(calls) == 4  # 3 + 3 + 3 + 1


def test_s3_stores_the_content_type(s3_endpoint: str, tmp_path: Path) -> None:
    store = S3Store(s3_endpoint, **CREDENTIALS)
    store.ensure_bucket("veil-types")
    video = tmp_path / "v.bin"
    video.write_bytes(b"x")
    store.upload("veil-types", "a/mosaic/a.mp4", video)
    store.put_bytes("veil-types", "a/detections.json", b"{}", "application/json")
    assert store.client.head_object(Bucket="veil-types", Key="a/mosaic/a.mp4")["ContentType"] == "video/mp4"
    assert store.client.head_object(Bucket="veil-types", Key="a/detections.json")["ContentType"] == "application/json"


def test_unreachable_endpoint_is_a_storage_error() -> None:
    from tests.s3_server import free_port

    store = S3Store(f"http://127.0.0.1:{free_port()}", **CREDENTIALS)
    store.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(StorageError, match=r"127\.0\.0\.1"):
        store.head("bucket", "key")


def test_open_store_follows_the_settings(tmp_path: Path, s3_endpoint: str) -> None:
    local = open_store(SimpleNamespace(s3_endpoint=None, s3_region=None, data_dir=tmp_path))
    assert isinstance(local, LocalStore) and local.root == tmp_path
    remote = open_store(SimpleNamespace(s3_endpoint=s3_endpoint, s3_region="eu-west-1", data_dir=tmp_path))
    assert isinstance(remote, S3Store) and remote.client.meta.region_name == "eu-west-1"


def test_delete_removes_the_object_and_nothing_else(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "scratch/run/a/part.mp4", b"a")
    store.put_bytes(bucket, "scratch/run/b.json", b"b")
    store.delete(bucket, "scratch/run/a/part.mp4")
    store.delete(bucket, "scratch/run/a/part.mp4")  # gone already: not an error, as on S3
    assert [info.key for info in store.list_objects(bucket)] == ["scratch/run/b.json"]
    store.delete(bucket, "scratch/run/b.json")
    assert list(store.list_objects(bucket)) == []
    store.put_bytes(bucket, "scratch", b"a key where a folder was")  # local buckets: the empty folders went too
    assert store.get_bytes(bucket, "scratch") == b"a key where a folder was"


def test_a_spec_opens_the_same_store_in_another_process(
    store: ObjectStore, bucket: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from veil.storage import spec_of

    if backend == "s3":  # a spec carries no credentials: the opening side has them in its environment
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["secret_access_key"])
    store.put_bytes(bucket, "k", b"seen from afar")
    spec = pickle.loads(pickle.dumps(spec_of(store)))
    assert "testing" not in repr(spec)
    assert spec.open().get_bytes(bucket, "k") == b"seen from afar"


def test_only_known_stores_have_a_spec() -> None:
    from veil.errors import ConfigError
    from veil.storage import spec_of

    with pytest.raises(ConfigError, match="LocalStore or an S3Store"):
        spec_of(SimpleNamespace())  # type: ignore[arg-type]


def test_s3_without_boto3_says_what_to_install() -> None:
    # boto3 made unimportable, as on an install without veil[s3]: local stores still work, S3 says what is missing
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "from veil.storage import LocalStore, S3Store\n"
        "try:\n    S3Store('http://127.0.0.1:9')\nexcept Exception as error:\n    print(type(error).__name__, error)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("StorageError S3 storage needs boto3") and "pip install 'veil[s3]'" in result.stdout
