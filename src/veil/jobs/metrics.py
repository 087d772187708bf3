"""What this process's workers did, as Prometheus metrics (prometheus-client's default registry).

These count the work of one process (one replica); the job store's totals, shared
by every replica, are exported by the service at scrape time.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from veil.jobs.models import Job

JOB_SECONDS = Histogram(
    "veil_job_duration_seconds",
    "Seconds an attempt took, from claim to outcome",
    ["outcome"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf")),
)
JOB_FPS = Histogram(
    "veil_job_fps",
    "Frames per second of each successful attempt (frames / attempt seconds)",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 240, 480, float("inf")),
)
TAKEOVERS = Counter("veil_lease_takeovers_total", "Jobs taken over from a worker whose lease ran out (killed or stuck)")
RETRIES = Counter(
    "veil_job_retries_total",
    "Attempts handed back to the queue to be tried again",
    ["reason"],
)
STAGE_SECONDS = Counter(
    "veil_stage_seconds_total",
    "Seconds of work per pipeline stage in successful jobs (detect_face, encode, ...)",
    ["stage"],
)


def claimed(job: Job) -> None:
    if job.taken_over:
        TAKEOVERS.inc()


def finished(outcome: str, seconds: float, *, frames: int = 0) -> None:
    """One attempt ended: ``succeeded``, ``failed``, ``retried``, ``handed back`` or ``lost``."""
    JOB_SECONDS.labels(outcome).observe(seconds)
    if outcome == "succeeded" and frames and seconds > 0:
        JOB_FPS.observe(frames / seconds)


def stages(timings: dict[str, float]) -> None:
    """A successful job's seconds per pipeline stage (``detect_face``, ``encode``, ...)."""
    for stage, spent in timings.items():
        STAGE_SECONDS.labels(stage).inc(spent)


def retried(reason: str) -> None:
    """``error`` (a failed attempt with attempts left) or ``storage`` (handed back while the storage was down)."""
    RETRIES.labels(reason).inc()
