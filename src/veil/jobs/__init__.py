"""Jobs: records in a job store (SQLite by default, or PostgreSQL), leases and retries, and workers that run them.

>>> store = open_job_store("sqlite:///veil-data/veil.db")              # doctest: +SKIP
>>> job, created = store.create(source_bucket="source", source_key="a.mov",
...                             source_etag=etag, output_bucket="output")  # doctest: +SKIP
>>> pool = WorkerPool(store, open_store(settings), workers=2); pool.start()  # doctest: +SKIP
"""

from veil.jobs.models import Job, JobState, OutputKeys, output_name
from veil.jobs.process import LeaseLost, process_job
from veil.jobs.store import JobStore, open_job_store
from veil.jobs.workers import WorkerPool

__all__ = [
    "Job",
    "JobState",
    "JobStore",
    "LeaseLost",
    "OutputKeys",
    "WorkerPool",
    "open_job_store",
    "output_name",
    "process_job",
]
