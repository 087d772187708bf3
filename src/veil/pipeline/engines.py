"""Engines: where the segments of a video are processed.

An engine maps one picklable function over picklable tasks and returns the
results in task order. It owns nothing else: planning, joining and publishing
stay with the pipeline, so an engine on another machine (Ray, in
``veil.jobs``) slots in by implementing :class:`Engine`. Any task that fails
fails the whole map: the first error is raised once every task already
running has stopped, and no further task starts.

An engine whose workers share no filesystem with the caller (``remote``) moves
the files a task reads and writes itself; the task says which they are
(:class:`FileTask`), so the same task and function run on either kind.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, Self, TypeVar

from veil.errors import VeilError

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

    def inputs(self) -> dict[str, Path]:
        """The files the task reads, by name."""
        ...

    def outputs(self) -> dict[str, Path]:
        """The files and folders the task writes, by name."""
        ...

    def relocated(self, paths: Mapping[str, Path]) -> Self:
        """The same task reading and writing ``paths`` (named as in inputs and outputs) instead."""
        ...


class SerialEngine:
    """One task after another, in this process (the engine for ``jobs=1``)."""

    jobs = 1
    threads = None
    remote = False

    def map(self, function: Callable[[T], R], tasks: Sequence[T], done: Callable[[R], None] | None = None) -> list[R]:
        results = []
        for task in tasks:
            result = function(task)
            if done is not None:
                done(result)
            results.append(result)
        return results

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEngine:
    """A pool of ``jobs`` worker processes on this machine (spawned: no state shared with the caller).

    The pool starts on the first :meth:`map` and is kept for later ones, so
    workers keep what they cached (loaded models) from one video to the next;
    :meth:`close` (or ``with``) ends it.
    """

    remote = False

    def __init__(self, jobs: int = 2) -> None:
        if jobs < 1:
            raise ValueError("LocalEngine needs jobs >= 1")
        self.jobs = jobs
        self.threads: int | None = max(1, (os.cpu_count() or 1) // jobs)  # the cores, shared
        self._pool: ProcessPoolExecutor | None = None

    def map(self, function: Callable[[T], R], tasks: Sequence[T], done: Callable[[R], None] | None = None) -> list[R]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"))
        futures: list[Future[R]] = [self._pool.submit(function, task) for task in tasks]
        pending = set(futures)
        reported: set[Future[R]] = set()
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    error = future.exception()
                    if error is not None:
                        raise error
                    if done is not None and future not in reported:
                        reported.add(future)
                        done(future.result())
        except BaseException as error:
            for future in futures:
                future.cancel()
            wait(futures)  # running tasks finish (or fail) before the caller cleans up their files
            if isinstance(error, BrokenProcessPool):
                self.close()  # a worker died: the next map starts a fresh pool
                raise VeilError(
                    "a worker process died before finishing its segment (out of memory, killed, or a script"
                    " that starts veil without `if __name__ == \"__main__\":`, which worker processes need)"
                ) from error
            raise
        return [future.result() for future in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
