"""Test parts that Ray workers import: a store that records its traffic, detectors that fail or kill their worker."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.segments.fakes import ColourSquares, FailsOnMarker
from veil.records import Detections
from veil.storage import LocalStore, ObjectInfo


class RecordingStore(LocalStore):
    """Bucket folders that append ``pid action bucket/key`` to a log for every upload, download and delete."""

    def __init__(self, root: str, log: str) -> None:
        super().__init__(root)
        self.log = log

    def _record(self, action: str, bucket: str, key: str) -> None:
        with open(self.log, "a") as out:
            out.write(f"{os.getpid()} {action} {bucket}/{key}\n")

    def upload(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        super().upload(bucket, key, path, content_type)
        self._record("upload", bucket, key)

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        info = super().download(bucket, key, path)
        self._record("download", bucket, key)
        return info

    def delete(self, bucket: str, key: str) -> None:
        super().delete(bucket, key)
        self._record("delete", bucket, key)


@dataclass(frozen=True)
class RecordingSpec:
    """Opens a :class:`RecordingStore` in whichever process unpickles it (driver or Ray worker)."""

    root: str
    log: str

    def open(self) -> RecordingStore:
        return RecordingStore(self.root, self.log)


def traffic(log: Path) -> list[tuple[int, str, str]]:
    """(pid, action, bucket/key) for every line of a recording store's log."""
    return [
        (int(pid), action, key) for pid, action, key in (line.split(" ", 2) for line in log.read_text().splitlines())
    ]


class KillsItsWorkerOnce(ColourSquares):
    """Finds the red square; the first time any process sees a late miss-marker frame, it SIGKILLs itself.

    ``marker`` (a file) records the killed process's pid; later attempts find it and carry on.
    """

    def __init__(self, marker: str) -> None:
        super().__init__("face", 0)
        self.marker = marker
        self._trigger = FailsOnMarker()

    def detect(self, image: np.ndarray) -> Detections:
        try:
            self._trigger.detect(image)
        except RuntimeError:
            if not os.path.exists(self.marker):
                Path(self.marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().detect(image)


class AlwaysFails(FailsOnMarker):
    """Fails (a model error to the pipeline) on every late miss-marker frame, appending its pid to ``log`` each time."""

    def __init__(self, log: str) -> None:
        super().__init__()
        self.log = log

    def detect(self, image: np.ndarray) -> Detections:
        try:
            return super().detect(image)
        except RuntimeError:
            with open(self.log, "a") as out:
                out.write(f"{os.getpid()}\n")
            raise
