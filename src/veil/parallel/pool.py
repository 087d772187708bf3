"""Engines on this machine: one task after another in this process, or a pool of worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from veil.errors import VeilError
from veil.parallel.engines import threads_per_task

T = TypeVar("T")
R = TypeVar("R")


class SerialEngine:
    """One task after another, in this process (the engine for ``jobs=1``)."""

    jobs: int = 1
    threads: int | None = None
    remote: bool = False

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

    remote: bool = False

    def __init__(self, jobs: int = 2) -> None:
        if jobs < 1:
            raise ValueError("LocalEngine needs jobs >= 1")
        self.jobs = jobs
        self.threads = threads_per_task(jobs)
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
                    ' that starts veil without `if __name__ == "__main__":`, which worker processes need)'
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
