"""Sweeping the scratch folders of dead attempts: each holds a full copy of an un-anonymized source.

A job stages its files in ``<work_dir>/veil-job-<job id>-<random>``, removed when
the attempt ends. An attempt whose process was killed leaves its folder behind;
these are removed when a pool starts (every folder whose job is not running under
a live lease: replicas may share the folder) and when a worker takes a job over
(every folder of that job: the attempt that made it is over).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from veil.errors import JobNotFound, VeilError
from veil.jobs.process import SCRATCH_PREFIX
from veil.jobs.store import JobStore

log = logging.getLogger(__name__)


def _folders(work_dir: Path, job_id: str = "") -> list[Path]:
    if not work_dir.is_dir():
        return []
    return [path for path in work_dir.glob(f"{SCRATCH_PREFIX}{job_id}*") if path.is_dir()]


def _job_id(folder: Path) -> str:
    return folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]


def _running(store: JobStore, job_id: str) -> bool:
    """Whether an attempt of the job may still be at work (when the store cannot say: yes, keep its folder)."""
    try:
        job = store.get(job_id)
    except JobNotFound:
        return False
    except VeilError:
        return True
    expires = job.lease_expires_at
    return job.detail == "running" and expires is not None and expires.timestamp() > time.time()


def _remove(folder: Path) -> None:
    log.info("removing the scratch folder of a dead attempt: %s", folder.name)
    shutil.rmtree(folder, ignore_errors=True)


def sweep(work_dir: Path, store: JobStore) -> int:
    """Remove the scratch folders of jobs that no attempt is running; how many were removed."""
    dead = [folder for folder in _folders(work_dir) if not _running(store, _job_id(folder))]
    for folder in dead:
        _remove(folder)
    return len(dead)


def sweep_job(work_dir: Path, job_id: str) -> None:
    """Remove every scratch folder of ``job_id`` (call before this worker's attempt makes its own)."""
    for folder in _folders(work_dir, f"{job_id}-"):
        _remove(folder)
