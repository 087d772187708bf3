"""Object stores: local folders and S3-compatible endpoints, behind one small interface.

>>> store = open_store(settings)                      # doctest: +SKIP
>>> store.upload("output", "clip/mosaic/clip.mp4", path)  # atomic: all or nothing
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil._lazy import lazy_exports
from veil.storage.base import ObjectInfo, ObjectStore
from veil.storage.local import LocalStore
from veil.storage.spec import LocalStoreSpec, S3StoreSpec, StoreSpec, spec_of

if TYPE_CHECKING:
    from veil.storage.s3 import S3Store

__all__ = [
    "LocalStore",
    "LocalStoreSpec",
    "ObjectInfo",
    "ObjectStore",
    "S3Store",
    "S3StoreSpec",
    "StoreSpec",
    "open_store",
    "spec_of",
]

__getattr__, __dir__ = lazy_exports(__name__, {"S3Store": "veil.storage.s3"})  # boto3 loads with the first S3 store


def open_store(settings: Any) -> ObjectStore:
    """The store the settings name: S3 when ``settings.s3_endpoint`` is set, else folders in ``settings.data_dir``.

    Reads ``s3_endpoint``, ``s3_region`` and ``data_dir``; S3 credentials come
    from the usual AWS settings (``AWS_ACCESS_KEY_ID``, ``~/.aws``, ...).
    """
    endpoint = getattr(settings, "s3_endpoint", None)
    if endpoint:
        from veil.storage.s3 import S3Store

        return S3Store(str(endpoint), getattr(settings, "s3_region", None))
    return LocalStore(Path(settings.data_dir))
