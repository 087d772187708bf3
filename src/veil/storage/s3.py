"""Any S3-compatible endpoint (AWS, MinIO, Ceph, moto) through boto3.

Publishing is atomic by the protocol: a single PUT, or a multipart upload,
becomes visible only when complete. Keys ending in ``/`` (folder markers made by
consoles) are not listed, so listings match what a local bucket can hold.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veil.errors import ObjectNotFound, ObjectTooLarge, StorageError
from veil.storage.base import ObjectInfo
from veil.storage.files import CHUNK, os_errors, staged_file

try:
    import boto3
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    _NO_BOTO3 = ""
except ModuleNotFoundError as missing:  # an optional extra: only S3Store needs it, and says so when made
    _NO_BOTO3 = f"S3 storage needs boto3 ({missing}): pip install 'veil[s3]' (veil[serve] includes it)"

MIB = 1 << 20
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class S3Store:
    """Object storage on an S3-compatible endpoint.

    Credentials and region default to the usual AWS settings (environment,
    ``~/.aws``); ``region`` falls back to ``us-east-1``. ``page_size`` is the
    listing page (S3's maximum is 1000); ``multipart_threshold`` the size from
    which uploads go in parts.
    """

    def __init__(
        self,
        endpoint_url: str | None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        *,
        page_size: int = 1000,
        multipart_threshold: int = 64 * MIB,
    ) -> None:
        if _NO_BOTO3:
            raise StorageError(_NO_BOTO3)
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
        )
        config = Config(
            region_name=session.region_name or "us-east-1",
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 5},
            s3={"addressing_style": "path"} if endpoint_url else {},
        )
        self.endpoint_url = endpoint_url
        self.client = session.client("s3", endpoint_url=endpoint_url, config=config)
        self.page_size = page_size
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=max(8 * MIB, multipart_threshold // 4)
        )

    @contextlib.contextmanager
    def _errors(
        self, action: str, bucket: str, key: str | None = None, *, missing_is_not_found: bool = False
    ) -> Iterator[None]:
        """Turn boto errors into StorageError (ObjectNotFound where asked) with the endpoint named."""
        where = "s3://{bucket}/{key}" if key is not None else "s3://{bucket}"
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING and missing_is_not_found:
                raise ObjectNotFound(f"{where} does not exist", bucket=bucket, key=key) from None
            if code == "NoSuchBucket":
                raise StorageError(
                    f"cannot {action} {where}: bucket {{bucket!r}} does not exist at {self._endpoint()}",
                    bucket=bucket,
                    key=key,
                ) from None
            message = error.response.get("Error", {}).get("Message") or str(error)
            raise StorageError(
                f"cannot {action} {where} at {self._endpoint()}: {{reason}}",
                reason=f"{message} ({code})",
                bucket=bucket,
                key=key,
            ) from error
        except (BotoCoreError, Boto3Error) as error:
            raise StorageError(
                f"cannot {action} {where} at {self._endpoint()}: {{reason}}", reason=str(error), bucket=bucket, key=key
            ) from error

    def _endpoint(self) -> str:
        return self.endpoint_url or "the default AWS endpoint"

    def ensure_bucket(self, bucket: str) -> None:
        with self._errors("create bucket", bucket):
            try:
                self.client.head_bucket(Bucket=bucket)
                return
            except ClientError as error:
                if str(error.response.get("Error", {}).get("Code")) not in _MISSING:
                    raise
            region = self.client.meta.region_name
            location: dict[str, Any] = (
                {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            try:
                self.client.create_bucket(Bucket=bucket, **location)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    raise

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
        )
        with self._errors("list", bucket):
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue
                    yield ObjectInfo(
                        bucket, item["Key"], item["Size"], _etag(item["ETag"]), item["LastModified"].astimezone(UTC)
                    )

    def head(self, bucket: str, key: str) -> ObjectInfo:
        with self._errors("read", bucket, key, missing_is_not_found=True):
            response = self.client.head_object(Bucket=bucket, Key=key)
        return _info(bucket, key, response)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.head(bucket, key)
        except ObjectNotFound:
            return False
        return True

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """One GET streamed to a file: the info returned describes exactly the bytes written."""
        path = Path(path)
        with self._errors("download", bucket, key, missing_is_not_found=True):
            response = self.client.get_object(Bucket=bucket, Key=key)
            with os_errors("cannot write {path}", path=path), staged_file(path) as out:
                for chunk in response["Body"].iter_chunks(CHUNK):
                    out.write(chunk)
        return _info(bucket, key, response)

    def get_bytes(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        with self._errors("read", bucket, key, missing_is_not_found=True):
            response = self.client.get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            if max_bytes is not None and response["ContentLength"] > max_bytes:
                body.close()
                raise ObjectTooLarge(
                    f"s3://{{bucket}}/{{key}} is {response['ContentLength']} bytes, more than the {max_bytes} allowed",
                    bucket=bucket,
                    key=key,
                )
            return body.read()

    def upload(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type or _guess_type(key)}
        with self._errors("upload to", bucket, key), os_errors("cannot upload {path}", path=path):
            self.client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=self._transfer)

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> None:
        with self._errors("write", bucket, key):
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type or _guess_type(key))

    def delete(self, bucket: str, key: str) -> None:
        with self._errors("delete", bucket, key):
            self.client.delete_object(Bucket=bucket, Key=key)


def _etag(value: str) -> str:
    return value.strip('"')


def _info(bucket: str, key: str, response: Mapping[str, Any]) -> ObjectInfo:
    modified: datetime = response["LastModified"]
    return ObjectInfo(bucket, key, int(response["ContentLength"]), _etag(response["ETag"]), modified.astimezone(UTC))


def _guess_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
