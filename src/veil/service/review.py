"""The review side of a running service: corrections, re-renders, approval, the audit log and media for the pages.

Re-renders run one at a time on their own thread (they decode and encode a
whole video, like a job) and are recorded in the review tables, so a page can
poll their state. Every change is logged, with its user, in the job's
append-only audit log. A job's creation and processing are logged when they
happen (see :mod:`veil.jobs.audit`); a job finished before that was done gets
them the first time it is looked at.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from veil.detect import POOL
from veil.errors import VeilError
from veil.jobs import Job, JobState, JobStore
from veil.jobs.audit import SYSTEM_USER, log_created, log_processed
from veil.jobs.rerender import first_detections, first_detections_key, object_sha256, rerender_job
from veil.jobs.review import ReviewStore
from veil.pipeline import AnonymizeOptions
from veil.pipeline.cuts import find_cuts
from veil.pipeline.follow import follow_box
from veil.records.review import Correction, doubtful, read_covers, summarize
from veil.storage import ObjectStore

log = logging.getLogger(__name__)

RENDER_TOUCH_SECONDS = 5.0
"""How often a running render touches its lease (veil.jobs.review.RENDER_STALE_SECONDS)."""


class ReviewConflict(Exception):
    """The request cannot be done in the job's current state (HTTP 409)."""


@dataclass(eq=False)  # hashable by identity: _summaries caches per service
class ReviewService:
    store: ReviewStore
    jobs: JobStore
    objects: ObjectStore
    options: AnonymizeOptions
    cache_dir: Path
    progress: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="veil-rerender")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _scanner: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="veil-cuts"))
    _scanning: set[str] = field(default_factory=set)

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._scanner.shutdown(wait=False, cancel_futures=True)

    # -- jobs and their log -----------------------------------------------------------------------------------

    def finished(self, job_id: str) -> Job:
        """The job, if it has SUCCEEDED (logged as created and processed); ReviewConflict otherwise."""
        job = self.jobs.get(job_id)
        if job.state is not JobState.SUCCEEDED or not job.output_key or not job.detections_key:
            raise ReviewConflict(f"job {job_id} is {job.detail}: nothing to review yet")
        self._log_processing(job)
        return job

    def _log_processing(self, job: Job) -> None:
        """For a job finished before creation and processing were logged as they happened: log them now, once."""
        with self._lock:
            logged = {event.event for event in self.store.events(job.job_id)}
            if "created" not in logged:
                log_created(self.store, job, SYSTEM_USER)
            if "processed" not in logged:
                log_processed(
                    self.store,
                    job.job_id,
                    self.options,
                    timings=job.timings,
                    input_sha256=object_sha256(self.objects, job.source_bucket, job.source_key),
                    outputs_sha256=self._output_hashes(job),
                    at=job.finished_at.timestamp() if job.finished_at else None,
                )

    def _output_hashes(self, job: Job) -> dict[str, str]:
        keys = [key for key in (job.output_key, job.detections_key) if key]
        return {key: object_sha256(self.objects, job.output_bucket, key) for key in keys}

    def events(self, job_id: str) -> list[dict[str, Any]]:
        self.finished(job_id)
        return [event.to_json() for event in self.store.events(job_id)]

    # -- tracks -------------------------------------------------------------------------------------------------

    def tracks(self, job_id: str) -> dict[str, Any]:
        """The job's tracks (from its first run), what corrections did to them, and the doubtful moments."""
        job = self.finished(job_id)
        summaries, moments, times = self._summaries(job.job_id, job.output_bucket, self._first_etag(job))
        deleted = {c.track_id for c in self.active(job_id) if c.kind == "delete_track"}
        tracks = [{**summary, "covered": summary["track_id"] not in deleted} for summary in summaries]
        metadata = job.video_metadata or {}
        cuts = self._cuts(job)
        after_cuts = [{"frame": frame, "track_id": -1, "reason": "just after a cut"} for frame in cuts or ()]
        return {
            "job_id": job_id,
            "frames": job.frames_total,
            "fps": metadata.get("FrameRate"),
            "width": metadata.get("FrameWidth"),
            "height": metadata.get("FrameHeight"),
            "tracks": tracks,
            "doubtful": sorted([*moments, *after_cuts], key=lambda moment: moment["frame"]),
            "cuts": cuts,
            "cuts_pending": cuts is None,
            "times_ms": times,
        }

    def _cuts(self, job: Job) -> list[int] | None:
        """The job's cuts, or None while they are found (once per job, on a thread of its own)."""
        cuts = self.store.cuts(job.job_id)
        if cuts is None:
            with self._lock:
                if job.job_id not in self._scanning:
                    self._scanning.add(job.job_id)
                    self._scanner.submit(self._scan, job)
        return cuts

    def _scan(self, job: Job) -> None:
        try:
            self.store.set_cuts(job.job_id, find_cuts(self.media_file(job, "original"), self.options.schedule))
        except Exception:
            log.exception("job %s: could not find its cuts", job.job_id)
        finally:
            self._scanning.discard(job.job_id)

    def _first_etag(self, job: Job) -> str:
        for key in (first_detections_key(job), job.detections_key or ""):
            if self.objects.exists(job.output_bucket, key):
                return self.objects.head(job.output_bucket, key).etag
        raise VeilError(f"job {job.job_id} has no detections")

    @lru_cache(maxsize=16)  # noqa: B019 - one service lives as long as the process
    def _summaries(
        self, job_id: str, bucket: str, etag: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, int]]:
        """Tracks, doubtful moments and frame times of one version of the first detections (cached by ETag)."""
        document = first_detections(self.jobs.get(job_id), self.objects)
        tracks = summarize(read_covers(document))
        times = {
            int(record["FrameIndex"]): int(record["Timestamp"])
            for section in ("Faces", "CustomLabels")
            for record in document.get(section, [])
        }
        return [track.to_json() for track in tracks], doubtful(tracks), times

    def overview(self, job_id: str) -> dict[str, Any]:
        """What the job list shows of a finished job: tracks per class and the current approval (no hashing)."""
        job = self.jobs.get(job_id)
        if job.state is not JobState.SUCCEEDED:
            return {"job_id": job_id, "tracks": {}, "approved": None}
        summaries, _, _ = self._summaries(job.job_id, job.output_bucket, self._first_etag(job))
        counts: dict[str, int] = {}
        for summary in summaries:
            counts[summary["class"]] = counts.get(summary["class"], 0) + 1
        return {"job_id": job_id, "tracks": counts, "approved": self._approval(job_id)}

    def _approval(self, job_id: str) -> dict[str, Any] | None:
        """The last approval, unless a correction or a render came after it."""
        approval = None
        for event in self.store.events(job_id):
            if event.event == "approved":
                approval = {"by": event.user, "at": event.at, "version": event.details.get("version")}
            elif event.event in ("correction_added", "correction_undone", "rerendered"):
                approval = None
        return approval

    # -- corrections and renders ------------------------------------------------------------------------------

    def active(self, job_id: str) -> list[Correction]:
        return [Correction.from_json(c.body, c.id) for c in self.store.corrections(job_id)]

    def add_correction(self, job_id: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
        self.finished(job_id)
        record = self.store.add_correction(job_id, user, body)
        self.store.log(job_id, user, "correction_added", {"id": record.id, **body})
        return record.to_json()

    def follow(self, job_id: str, values: dict[str, Any], anchor: int) -> dict[str, Any]:
        """A region whose box follows what was drawn on frame ``anchor`` through the shot (within start..end).

        The job's detector classes refine the path; each step ``[frame, x1, y1, x2, y2, placed]`` says how it was
        placed: ``drawn``, ``detected`` or ``tracked`` (see :mod:`veil.pipeline.follow`).
        """
        job = self.finished(job_id)
        start, end = values["start"], values["end"]
        if not start <= anchor <= end:
            raise ReviewConflict(f"the box was drawn on frame {anchor}, outside frames {start}-{end}")
        detectors = POOL.detectors(self.options.detector)
        source, drawn = self.media_file(job, "original"), tuple(values["box"])
        path = follow_box(source, anchor, drawn, start, end, detectors=detectors, schedule=self.options.schedule)
        steps = [[frame, *(round(v, 6) for v in box), path.placed[frame]] for frame, box in path.items()]
        return {**values, "start": min(path), "end": max(path), "anchor": anchor, "path": steps}

    def undo(self, job_id: str, correction_id: int, user: str) -> None:
        self.finished(job_id)
        if not self.store.undo_correction(job_id, correction_id, user):
            raise ReviewConflict(f"correction {correction_id} of job {job_id} is not active")
        self.store.log(job_id, user, "correction_undone", {"id": correction_id})

    def rerender(self, job_id: str, user: str) -> int:
        """Start rendering the job again with its active corrections; the new version's number."""
        job = self.finished(job_id)
        version = self.store.start_render(job_id, user)
        if version is None:
            raise ReviewConflict(f"job {job_id} is already being rendered")
        self.store.log(job_id, user, "rerender_started", {"version": version})
        self._executor.submit(self._render, job, version, user)
        return version

    def _render(self, job: Job, version: int, user: str) -> None:
        corrections = self.active(job.job_id)
        try:
            hashes = rerender_job(
                job,
                self.objects,
                corrections,
                options=self.options,
                progress=self._render_progress(job.job_id, version),
            )
        except Exception as error:
            message = str(error) if isinstance(error, VeilError) else f"internal error: {type(error).__name__}: {error}"
            log.exception("job %s: re-render %d failed", job.job_id, version)
            self.store.finish_render(job.job_id, version, message)
            self.store.log(job.job_id, user, "rerender_failed", {"version": version, "message": message})
            return
        self.store.finish_render(job.job_id, version)
        details = {"version": version, "corrections": [c.id for c in corrections], **hashes}
        self.store.log(job.job_id, user, "rerendered", details)

    def _render_progress(self, job_id: str, version: int) -> Callable[[int, int | None], None]:
        """The progress callback of a render: keeps the page's counter and touches the render's lease."""
        touched = time.monotonic()

        def progress(done: int, total: int | None) -> None:
            nonlocal touched
            self.progress[job_id] = (done, total)
            if time.monotonic() - touched >= RENDER_TOUCH_SECONDS:
                self.store.touch_render(job_id, version)
                touched = time.monotonic()

        return progress

    def approve(self, job_id: str, reviewer: str, note: str | None) -> None:
        self.finished(job_id)
        render = self.store.render(job_id)
        if render is not None and render.state == "rendering":
            raise ReviewConflict(f"job {job_id} is being rendered: approve the finished version")
        version = render.version if render is not None else 0
        self.store.log(job_id, reviewer, "approved", {"version": version, "note": note or ""})

    def status(self, job_id: str) -> dict[str, Any]:
        """The render's state and progress, and whether the current version is approved (and by whom)."""
        self.finished(job_id)
        render = self.store.render(job_id)
        approval = self._approval(job_id)
        done, total = self.progress.get(job_id, (0, None))
        return {
            "version": render.version if render else 0,
            "render_state": render.state if render else "done",
            "render_message": render.message if render else None,
            "render_progress": {"frames_done": done, "frames_total": total},
            "approved": approval,
        }

    # -- media for the pages ----------------------------------------------------------------------------------

    def media_file(self, job: Job, kind: str) -> Path:
        """A local copy of the job's original or anonymized video, kept per object version (for range requests).

        The copies live in ``DATA_DIR/review-cache/JOB`` (as private as the database); a new version replaces the old.
        """
        bucket, key = (
            (job.source_bucket, job.source_key) if kind == "original" else (job.output_bucket, job.output_key or "")
        )
        etag = self.objects.head(bucket, key).etag
        name = hashlib.sha256(f"{bucket}\0{key}\0{etag}".encode()).hexdigest()[:24]
        path = self.cache_dir / job.job_id / f"{kind}-{name}{Path(key).suffix.lower()}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            self.objects.download(bucket, key, partial)
            partial.replace(path)
            for older in path.parent.glob(f"{kind}-*"):  # earlier versions (an open one stays readable)
                if older != path:
                    older.unlink(missing_ok=True)
        return path
