"""The job record and where a job's outputs go."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class JobState(str, Enum):
    """The job API's states. ``Job.detail`` says more while IN_PROGRESS (queued or running)."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Job:
    """One anonymization of one source object.

    ``attempts`` counts the times a worker took the job (a lease that expired
    counts; a graceful release does not). ``message`` is the last error: set
    when FAILED, and also while a failed attempt waits to be retried.
    """

    job_id: str
    source_bucket: str
    source_key: str
    source_etag: str
    output_bucket: str
    output_prefix: str
    state: JobState
    detail: str
    message: str | None
    attempts: int
    max_attempts: int
    client_request_token: str | None
    job_tag: str | None
    frames_done: int
    frames_total: int | None
    fps: float | None
    timings: dict[str, float]
    video_metadata: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    output_key: str | None
    detections_key: str | None
    worker_id: str | None = None
    lease_expires_at: datetime | None = field(default=None)
    output_etags: tuple[str, str] | None = None
    taken_over: bool = False
    """Whether the current (or last) attempt took the job over from a worker whose lease had run out."""
    """The ETags of the video and detections this job published (None before it succeeded, or from an older veil)."""


def output_name(source_key: str) -> str:
    """The seed's ``<name>``: the source key without its extension, folders kept.

    ``a/b c.mov`` gives ``a/b c``, so its video is ``a/b c/mosaic/a/b c.mp4``,
    exactly where the replaced function put it.
    """
    return posixpath.splitext(source_key)[0]


@dataclass(frozen=True)
class OutputKeys:
    """The keys of a job's outputs in the output bucket (the seed's layout)."""

    name: str

    @property
    def video(self) -> str:
        return f"{self.name}/mosaic/{self.name}.mp4"

    @property
    def detections(self) -> str:
        return f"{self.name}/detections.json"

    def frame(self, folder: str, filename: str) -> str:
        """``<name>/images/000123.png`` (original) or ``<name>/mosaic/000123.png`` (covered)."""
        return f"{self.name}/{folder}/{filename}"
