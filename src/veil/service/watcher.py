"""The bucket watcher: lists the source bucket and submits every new video once.

An object is submitted when two listings in a row show it with the same ETag, so a
file still being copied into a local bucket folder is not taken half-written. The
job store deduplicates on (bucket, key, ETag), so a restart that submits the whole
bucket again starts nothing new.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from veil.errors import VeilError
from veil.storage import ObjectInfo, ObjectStore

log = logging.getLogger(__name__)


class BucketWatcher:
    """Polls ``bucket`` every ``interval`` seconds on a thread of its own."""

    def __init__(
        self,
        objects: ObjectStore,
        bucket: str,
        *,
        matches: Callable[[str], bool],
        submit: Callable[[ObjectInfo], object],
        interval: float,
    ) -> None:
        self._objects, self._bucket, self._matches, self._submit = objects, bucket, matches, submit
        self._interval = interval
        self._previous: dict[str, str] = {}  # key -> ETag in the last listing
        self._submitted: set[tuple[str, str]] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="veil-watcher", daemon=True)

    def poll(self) -> int:
        """List the bucket once and submit what is new and stable; returns how many were submitted."""
        listing = {info.key: info for info in self._objects.list_objects(self._bucket) if self._matches(info.key)}
        submitted = 0
        for key, info in listing.items():
            if self._previous.get(key) != info.etag or (key, info.etag) in self._submitted:
                continue
            try:
                self._submit(info)
            except Exception:  # one bad object must not stop the watcher; the next poll retries it
                log.exception("cannot submit %s/%s", self._bucket, key)
                continue
            self._submitted.add((key, info.etag))
            submitted += 1
        self._previous = {key: info.etag for key, info in listing.items()}
        self._submitted &= set(self._previous.items())
        return submitted

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll()
            except VeilError as error:  # the store may be down for a while: keep watching
                log.warning("cannot list bucket %s: %s", self._bucket, error)
            except Exception:
                log.exception("cannot list bucket %s", self._bucket)
            self._stopping.wait(self._interval)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
