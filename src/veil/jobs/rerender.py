"""Re-render a finished job from its reviewed covers, without running the detectors again.

The first run's detections document is kept once, beside the outputs, as
``<name>/review/detections.first.json``: every later render starts from it and
applies the job's active corrections, so undoing a correction and rendering
again brings back exactly what was there. The new outputs are published as the
first ones were (``<name>/mosaic/<name>.mp4``, then ``<name>/detections.json``,
each object atomically), so the previous version stays until the new one is
complete.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from veil.errors import VeilError
from veil.jobs.models import Job, OutputKeys
from veil.jobs.process import ProgressCallback, sha256_of, source_suffix
from veil.media import probe
from veil.pipeline import AnonymizeOptions
from veil.pipeline.covers import render_covers
from veil.records.review import Correction, apply_corrections, audio_ranges, read_covers, style_of
from veil.storage import ObjectStore


def first_detections_key(job: Job) -> str:
    return f"{job.output_prefix}/review/detections.first.json"


def first_detections(job: Job, objects: ObjectStore) -> dict[str, Any]:
    """The detections document of the job's first run (the current one while nothing was re-rendered)."""
    key = first_detections_key(job)
    if objects.exists(job.output_bucket, key):
        return dict(json.loads(objects.get_bytes(job.output_bucket, key)))
    if not job.detections_key:
        raise VeilError(f"job {job.job_id} has no detections yet")
    return dict(json.loads(objects.get_bytes(job.output_bucket, job.detections_key)))


def _keep_first(job: Job, objects: ObjectStore) -> None:
    key = first_detections_key(job)
    if not objects.exists(job.output_bucket, key) and job.detections_key:
        data = objects.get_bytes(job.output_bucket, job.detections_key)
        objects.put_bytes(job.output_bucket, key, data, "application/json")


def rerender_job(
    job: Job,
    objects: ObjectStore,
    corrections: Sequence[Correction],
    *,
    options: AnonymizeOptions,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Render ``job`` again with ``corrections`` and publish it; the SHA-256 of the input and of each output."""
    if not job.output_key or not job.detections_key:
        raise VeilError(f"job {job.job_id} has no outputs to render again (state {job.state.value})")
    keys = OutputKeys(job.output_prefix)
    style = style_of(corrections)
    if style is not None:
        options = AnonymizeOptions.build(options, style=style)
    with tempfile.TemporaryDirectory(prefix="veil-rerender-", dir=work_dir) as folder:
        work = Path(folder)
        source = work / f"source{source_suffix(job.source_key)}"
        video, detections = work / "video.mp4", work / "detections.json"
        objects.download(job.source_bucket, job.source_key, source)
        _keep_first(job, objects)
        frame_count = job.frames_total or probe(source).frame_count or 0
        covers = apply_corrections(read_covers(first_detections(job, objects)), corrections, frame_count)
        audio = audio_ranges(corrections)
        render_covers(source, video, covers, options=options, detections=detections, progress=progress, audio=audio)
        objects.upload(job.output_bucket, keys.video, video, "video/mp4")
        objects.upload(job.output_bucket, keys.detections, detections, "application/json")
        return {
            "input_sha256": sha256_of(source),
            "outputs_sha256": {keys.video: sha256_of(video), keys.detections: sha256_of(detections)},
            "style": options.redact.style,
        }


def object_sha256(objects: ObjectStore, bucket: str, key: str, work_dir: Path | None = None) -> str:
    """The SHA-256 of one stored object (downloaded to a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="veil-hash-", dir=work_dir) as folder:
        path = Path(folder) / "object"
        objects.download(bucket, key, path)
        return sha256_of(path)
