"""Log lines as text or as JSON, each carrying the id of the job whose work wrote it.

The job id lives in a context variable: the worker sets it for a job's attempt,
and the threads that work for the job (the pipeline's stages, the lease timer)
start in a copy of their creator's context, so every line of a job's work has it.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal

JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("veil_job_id", default=None)

LogFormat = Literal["text", "json"]


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Every line logged inside (on this thread, and threads started from it) names ``job_id``."""
    token = JOB_ID.set(job_id)
    try:
        yield
    finally:
        JOB_ID.reset(token)


class _JobId(logging.Filter):
    """Puts the current job id (or None) on each record as ``job_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = JOB_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job_id when a job's work wrote it, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = job_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    """Send every logger's lines (uvicorn's too) to standard error in ``log_format``."""
    handler = logging.StreamHandler()
    handler.addFilter(_JobId())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
