"""Engines by name: where a video's segments run.

The interface (:class:`~veil.pipeline.engines.Engine`: map a picklable function
over picklable segment tasks, results in order, the first failure fails all)
lives with the pipeline, which only needs the interface; the engines that
reach beyond this process are chosen here, by the layer that runs jobs.

* ``local``: a pool of ``jobs`` processes on this machine
  (:class:`~veil.pipeline.engines.LocalEngine`).
* ``ray``: not built yet (issue 5, next part): Ray tasks over segments, with
  segment inputs and outputs passed through the object store by key.
"""

from __future__ import annotations

from veil.errors import ConfigError
from veil.pipeline.engines import Engine, LocalEngine, SerialEngine

ENGINES = ("local",)


def make_engine(name: str = "local", jobs: int = 1) -> Engine:
    """The engine called ``name`` with ``jobs`` workers (``local`` with one job runs in this process)."""
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, not {jobs}")
    if name == "local":
        return SerialEngine() if jobs == 1 else LocalEngine(jobs)
    raise ConfigError(f"unknown engine {name!r}; this build has: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "LocalEngine", "SerialEngine", "make_engine"]
