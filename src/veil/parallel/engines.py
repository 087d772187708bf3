"""Engines: where the segments of a video are processed, chosen by name and resolved once.

An engine maps one picklable function over picklable tasks and returns the
results in task order. It owns nothing else: planning, joining and publishing
stay with the driver (:mod:`veil.parallel.driver`), so an engine on another
machine slots in by implementing :class:`Engine`.

* ``local``: this process (:class:`~veil.parallel.pool.SerialEngine`, one job)
  or a pool of ``jobs`` processes (:class:`~veil.parallel.pool.LocalEngine`).
* ``ray``: Ray tasks over segments on a cluster, with segment files passed
  through an object store by key (:class:`~veil.parallel.ray.RayEngine`; Ray is
  imported only then). Any task that fails
fails the whole map: the first error is raised once every task already
running has stopped, and no further task starts.

An engine whose workers share no filesystem with the caller (``remote``) moves
the files a task reads and writes itself; the task says which they are
(:class:`FileTask`), so the same task and function run on either kind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, Self, TypeVar

from veil.errors import ConfigError

if TYPE_CHECKING:
    from veil.parallel.staging import Scratch

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Runs ``function(task)`` for every task; results in task order.

    ``jobs`` is how many tasks run at once; ``threads`` how many threads each
    task's models should use (None: all of the machine's cores); ``remote``
    whether tasks run where this process's files are not (then every video is
    sent to the engine, even one a single segment long, and tasks must be
    :class:`FileTask`).
    """

    jobs: int
    threads: int | None
    remote: bool

    def map(self, function: Callable[[T], R], tasks: Sequence[T], done: Callable[[R], None] | None = None) -> list[R]:
        """``done`` is called (on the caller's thread) with each result as it arrives."""
        ...

    def close(self) -> None: ...


class FileTask(Protocol):
    """A task that reads and writes local files, which a remote engine moves for it.

    Names are the task's own (``"source"``, ``"video"``); an output that is a
    folder exists (empty) before the task runs and receives files.
    """

    def input_files(self) -> dict[str, Path]:
        """The files the task reads, by name."""
        ...

    def output_files(self) -> dict[str, Path]:
        """The files and folders the task writes, by name."""
        ...

    def relocated(self, paths: Mapping[str, Path]) -> Self:
        """The same task reading and writing ``paths`` (named as in inputs and outputs) instead."""
        ...


EngineChoice = Engine | Literal["local"] | None
"""What :func:`veil.anonymize` takes as ``engine``: an open engine (kept open), or None/"local" (made and closed)."""

ENGINES = ("local", "ray")


def threads_per_task(jobs: int, sharing: int = 1) -> int | None:
    """Model threads for each of ``jobs`` tasks when ``sharing`` such runs share this machine's cores.

    None (the runtime's default: every core) when one task has the machine to itself.
    """
    if jobs * sharing == 1:
        return None
    return max(1, (os.cpu_count() or 1) // (jobs * sharing))


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
        from veil.parallel.pool import LocalEngine, SerialEngine

        return SerialEngine() if (jobs or 1) == 1 else LocalEngine(jobs or 1)
    if name == "ray":
        if scratch is None:
            raise ConfigError(
                "the ray engine needs a scratch store that every node can reach (a shared folder or s3://BUCKET)"
            )
        from veil.parallel.ray import RayEngine

        return RayEngine(scratch, address=address, jobs=jobs, attempts=attempts)
    raise ConfigError(f"unknown engine {name!r}; this build has: {', '.join(ENGINES)}")


@contextlib.contextmanager
def open_engine(engine: EngineChoice, jobs: int | None) -> Iterator[Engine]:
    """The engine a run uses: the caller's own (left open), or a local one made for ``jobs`` and closed after."""
    if engine is None or engine == "local":
        made = make_engine("local", jobs)
        try:
            yield made
        finally:
            made.close()
    elif isinstance(engine, str):
        raise ConfigError(
            f"unknown engine {engine!r}: name 'local', or pass an Engine (veil.parallel.make_engine makes 'ray')"
        )
    else:
        yield engine
