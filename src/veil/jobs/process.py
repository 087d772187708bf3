"""One job end to end: download the source, anonymize it, publish the outputs.

Outputs are published in an order that makes the last one a completion mark:
frame images (if asked for), then the video, then ``detections.json``. Each
object appears atomically. Before each group, the worker's ``still_owner``
check renews the lease, so a worker that lost its job publishes nothing more.

All versions of a source publish to the same keys (the seed's layout), so the
newest version must win: a job checks the source's ETag after its download and
before each group, and stops with :class:`SourceReplaced` (publishing nothing
more) once the source has changed; the newer version has a job of its own. The
ETags of what it published are returned, so a job never serves objects that
another job wrote over its own.

The job's scratch folder is ``veil-job-<job id>-*`` in ``work_dir``: it holds
the un-anonymized source, so :func:`veil.jobs.scratch.sweep` removes those of
attempts that died.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from veil.detect import Detector
from veil.errors import ObjectNotFound, VeilError
from veil.jobs.models import Job, OutputKeys
from veil.media import probe
from veil.parallel import Engine, anonymize
from veil.pipeline import AnonymizeOptions
from veil.records import VideoMetadata
from veil.storage import ObjectStore

ProgressCallback = Callable[[int, int | None], None]
SCRATCH_PREFIX = "veil-job-"


class SourceReplaced(VeilError):
    """The source object changed (a new version was uploaded) while its job ran; that version's job publishes."""


@dataclass(frozen=True)
class Processed:
    """A run that published its outputs: what the job store records, and what the audit log keeps of the files."""

    record: dict[str, Any]
    """The keyword arguments of ``JobStore.succeed``."""
    input_sha256: str
    outputs_sha256: dict[str, str]
    """The SHA-256 of the video and of the detections, by key: hashed from the local files that were uploaded."""


class LeaseLost(Exception):
    """The worker no longer holds the job (its lease ran out and another took it, or it was released).

    Not a VeilError: nothing failed, the job is simply someone else's now.
    """


def process_job(
    job: Job,
    objects: ObjectStore,
    *,
    progress: ProgressCallback,
    options: AnonymizeOptions | None = None,
    write_frames: bool = False,
    detectors: Sequence[Detector] | None = None,
    still_owner: Callable[[], bool] | None = None,
    work_dir: Path | None = None,
    engine: Engine | None = None,
) -> Processed:
    """Anonymize ``job``'s source into its output bucket; what to record of it (see :class:`Processed`).

    ``options``, ``detectors`` and ``engine`` are :func:`veil.anonymize`'s (the
    outputs are set here); ``write_frames`` also publishes every frame as PNG.
    Raises a VeilError when the job cannot be done, and LeaseLost when
    ``still_owner`` says the job is no longer ours; either way the output bucket
    is not touched after the failure. Files are staged in
    ``work_dir/veil-job-<job id>-*`` (default: the system's temporary folder).
    """
    run = partial(
        anonymize, options=options or AnonymizeOptions(), detectors=detectors, progress=progress, engine=engine
    )
    keys = OutputKeys(job.output_prefix)
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{job.job_id}-", dir=work_dir) as folder:
        work = Path(folder)
        source = work / f"source{source_suffix(job.source_key)}"
        video, detections = work / "video.mp4", work / "detections.json"
        frames = work / "frames" if write_frames else None
        with _naming(work):
            _check_version(job, objects.download(job.source_bucket, job.source_key, source).etag)
        copies = {source: f"{job.source_bucket}/{job.source_key}", **_published_names(job, keys, video, detections)}
        with _naming(work, copies):
            report = run(source, video, detections_path=detections, frames_dir=frames)
            metadata = VideoMetadata.from_info(probe(source))
        with _naming(work):
            published = _publish(objects, job, video, detections, frames, still_owner)
        record = {
            "output_key": keys.video,
            "detections_key": keys.detections,
            "timings": dict(report.timings),
            "video_metadata": metadata.to_api(),
            "output_etags": published,
        }
        outputs = {keys.video: sha256_of(video), keys.detections: sha256_of(detections)}
        return Processed(record, sha256_of(source), outputs)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _published_names(job: Job, keys: OutputKeys, video: Path, detections: Path) -> dict[Path, str]:
    """The objects the staged outputs become, by their staged paths: how errors name them."""
    return {video: f"{job.output_bucket}/{keys.video}", detections: f"{job.output_bucket}/{keys.detections}"}


def source_suffix(key: str) -> str:
    """The key's extension if it is a plain one (demuxers use it as a hint), else none."""
    extension = posixpath.splitext(key)[1]
    return extension.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", extension) else ""


@contextlib.contextmanager
def _naming(work: Path, copies: Mapping[Path, str] | None = None) -> Iterator[None]:
    """VeilErrors raised inside name files as a service user may see them, never by the data directory's absolute path.

    A file in ``copies`` is named as the object it copies (``bucket/key``), any
    other file in ``work`` by its place in the job's work folder.
    """
    try:
        yield
    except VeilError as error:
        if error.path is None:
            raise
        path = Path(error.path)
        if copies is not None and path in copies:
            name = copies[path]
        elif path.is_relative_to(work):
            name = f"{path.relative_to(work)} in the job's work folder"
        else:
            raise
        raise error.relabel({error.path: name}) from error


def _publish(
    objects: ObjectStore,
    job: Job,
    video: Path,
    detections: Path,
    frames: Path | None,
    still_owner: Callable[[], bool] | None,
) -> tuple[str, str]:
    """Frames (if any), the video, then detections.json, each group only while the job is ours and its source
    unchanged; the ETags of the video and detections as published."""
    keys = OutputKeys(job.output_prefix)
    if frames is not None:
        _check(still_owner, job, objects)
        _publish_frames(objects, job.output_bucket, keys, frames)
    _check(still_owner, job, objects)
    objects.upload(job.output_bucket, keys.video, video, "video/mp4")
    _check(still_owner, job, objects)
    objects.upload(job.output_bucket, keys.detections, detections, "application/json")
    return objects.head(job.output_bucket, keys.video).etag, objects.head(job.output_bucket, keys.detections).etag


def _check(still_owner: Callable[[], bool] | None, job: Job, objects: ObjectStore) -> None:
    """Before publishing: the job must still be ours, and its source still the version it was made for."""
    if still_owner is not None and not still_owner():
        raise LeaseLost("the job's lease was lost; not publishing")
    # A source deleted since (e.g. by a client done with it) has no newer version to give way to.
    with contextlib.suppress(ObjectNotFound):
        _check_version(job, objects.head(job.source_bucket, job.source_key).etag)


def _check_version(job: Job, etag: str) -> None:
    if etag != job.source_etag:
        raise SourceReplaced(
            f"{job.source_bucket}/{job.source_key} was replaced by a newer version while this job ran; "
            "the newer version's job publishes the output"
        )


def _publish_frames(objects: ObjectStore, bucket: str, keys: OutputKeys, frames: Path) -> None:
    for folder in ("images", "mosaic"):
        for image in sorted((frames / folder).glob("*.png")):
            objects.upload(bucket, keys.frame(folder, image.name), image, "image/png")
