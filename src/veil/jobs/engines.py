"""Engines by name: where a video's segments run.

The interface (:class:`~veil.pipeline.engines.Engine`: map a picklable function
over picklable segment tasks, results in order, the first failure fails all)
lives with the pipeline, which only needs the interface; the engines that
reach beyond this process are chosen here, by the layer that runs jobs.

* ``local``: a pool of ``jobs`` processes on this machine
  (:class:`~veil.pipeline.engines.LocalEngine`).
* ``ray``: Ray tasks over segments on a cluster, with segment inputs and
  outputs passed through an object store by key
  (:class:`~veil.jobs.ray_engine.RayEngine`; Ray is imported only then).
"""

from __future__ import annotations

from veil.errors import ConfigError
from veil.jobs.staging import Scratch
from veil.pipeline.engines import Engine, LocalEngine, SerialEngine

ENGINES = ("local", "ray")


def make_engine(
    name: str = "local",
    jobs: int | None = None,
    *,
    address: str | None = None,
    scratch: Scratch | None = None,
    attempts: int = 3,
) -> Engine:
    """The engine called ``name`` running ``jobs`` segments at once.

    ``local``: ``jobs`` processes (default 1: in this process). ``ray``: ``jobs``
    tasks at once (default: the cluster's CPUs) on the cluster at ``address``
    (None: a local instance), staging files in ``scratch``, each segment tried up
    to ``attempts`` times.
    """
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs must be at least 1, not {jobs}")
    if name == "local":
        return SerialEngine() if (jobs or 1) == 1 else LocalEngine(jobs or 1)
    if name == "ray":
        if scratch is None:
            raise ConfigError("the ray engine needs a scratch store that every node can reach (a shared folder or s3://BUCKET)")
        from veil.jobs.ray_engine import RayEngine

        return RayEngine(scratch, address=address, jobs=jobs, attempts=attempts)
    raise ConfigError(f"unknown engine {name!r}; this build has: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "LocalEngine", "Scratch", "SerialEngine", "make_engine"]
