"""The ``ray`` engine: a video's segments as Ray tasks on a cluster, their files through an object store.

Each task runs the same segment function a local pool runs, wrapped by
:func:`veil.parallel.staging.run_staged`: the worker downloads the source from the
scratch store, anonymizes its segment in a scratch folder of its own, and
uploads the segment's video and detections under keys it returns. Nothing is
assumed shared between the nodes but the scratch store, and no video bytes pass
through Ray's own object store. Default models are loaded once per Ray worker
process (the segment function's cache) and reused by every segment it runs.

Attempts: a task whose worker dies (killed, out of memory, node lost) or that
fails with an error worth another try (:data:`RETRYABLE`) is run again by Ray,
up to ``attempts`` times in all; then the map fails with
:class:`~veil.errors.SegmentFailed`. Other errors (a file that is not a video, a
bug) fail the map at once. Ray is imported only when this engine is made.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from veil.errors import (
    ConfigError,
    ModelError,
    OutputError,
    SegmentFailed,
    StorageError,
    VeilError,
    first_line,
    reason,
)
from veil.parallel.engines import FileTask
from veil.parallel.staging import Scratch, Staging, run_staged

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

RETRYABLE = (ModelError, StorageError, OutputError)
"""Errors worth another attempt on another worker: a model that failed (out of memory), a store or disk that failed."""

STOP_SECONDS = 30.0
"""How long a failed map waits for its other tasks to stop before removing their files."""

ADDRESS = re.compile(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}")


class RayEngine:
    """Segments as Ray tasks, staged through ``scratch`` (a store every node can reach).

    ``address``: None starts a local Ray instance with this machine's cores (or
    uses the one this process is already connected to); ``auto`` joins the
    cluster this machine belongs to; ``ray://HOST:PORT`` connects as a Ray
    client; ``HOST:PORT`` joins a cluster by its head's address. ``jobs`` (segments
    at once) defaults to the cluster's CPUs over ``cpus_per_task``; each task's
    models use ``cpus_per_task`` threads. :meth:`close` disconnects, and stops
    the local instance if this engine started it.
    """

    remote = True

    def __init__(
        self,
        scratch: Scratch,
        *,
        address: str | None = None,
        jobs: int | None = None,
        attempts: int = 3,
        cpus_per_task: int = 1,
    ) -> None:
        if attempts < 1 or cpus_per_task < 1 or (jobs is not None and jobs < 1):
            raise ConfigError(
                f"the ray engine needs attempts, cpus_per_task and jobs of at least 1 "
                f"(got {attempts}, {cpus_per_task}, {jobs})"
            )
        try:
            import ray
        except ModuleNotFoundError:
            raise ConfigError("the ray engine needs Ray: pip install 'veil[ray]'") from None
        self._ray: Any = ray
        self._connected = connect(ray, address)
        try:
            cpus = int(self._ray.cluster_resources().get("CPU", 0))
            self.jobs = jobs or max(1, cpus // cpus_per_task)
            self.threads: int | None = cpus_per_task
            self.attempts = attempts
            self.scratch = scratch
            self._store = scratch.store.open()
            self._store.ensure_bucket(scratch.bucket)
        except BaseException:
            self.close()
            raise
        self._run: Any = self._ray.remote(run_staged).options(
            num_cpus=cpus_per_task, max_retries=attempts - 1, retry_exceptions=list(RETRYABLE)
        )

    def map(self, function: Callable[[T], R], tasks: Sequence[T], done: Callable[[R], None] | None = None) -> list[R]:
        """Run every task on the cluster; results in task order, ``done`` called as each arrives."""
        staging = Staging(self._store, self.scratch)
        files = cast("Sequence[FileTask]", tasks)  # a remote engine's tasks name the files it moves
        refs: list[Any] = []
        try:
            refs = [self._run.remote(function, request) for request in staging.stage_in(files)]
            position = {ref: index for index, ref in enumerate(refs)}
            results: list[Any] = [None] * len(tasks)
            pending = list(refs)
            while pending:
                ready, pending = self._ray.wait(pending, num_returns=1)
                for ref in ready:
                    index = position[ref]
                    result, parcel = self._get(ref, index, len(tasks))
                    staging.stage_out(files[index], parcel)
                    results[index] = result
                    if done is not None:
                        done(result)
            return results
        except BaseException:
            self._stop(refs)
            raise
        finally:
            staging.clean()

    def _get(self, ref: Any, index: int, total: int) -> Any:
        """Segment ``index``'s value; its failure as veil's error (the task's own error where it raised one)."""
        exceptions = self._ray.exceptions
        what = f"segment {index + 1} of {total}"
        try:
            return self._ray.get(ref)
        except exceptions.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, RETRYABLE):
                message = f"{what} failed on all {self.attempts} attempts; the last: {{reason}}"
                raise SegmentFailed(message, segment=index, reason=str(cause)) from cause
            raise cause from error
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.OutOfMemoryError) as error:
            message = (
                f"{what}: its worker process died on all {self.attempts} attempts"
                " (killed, out of memory, or its node lost): {reason}"
            )
            raise SegmentFailed(message, segment=index, reason=first_line(error, None)) from error
        except exceptions.RayError as error:
            raise VeilError(f"Ray could not run {what}: {first_line(error, None)}") from error

    def _stop(self, refs: list[Any]) -> None:
        """Cancel the tasks (queued ones never start, running ones are interrupted) and wait for them to end."""
        if not refs:
            return
        for ref in refs:
            try:
                self._ray.cancel(ref)
            except Exception as error:  # already finished, or the cluster is gone: nothing left to stop
                log.debug("cancelling a segment task: %s", error)
        _, running = self._ray.wait(refs, num_returns=len(refs), timeout=STOP_SECONDS)
        if running:
            log.warning(
                "%d segment tasks still running after %.0f s; their scratch parts may be left behind",
                len(running),
                STOP_SECONDS,
            )

    def close(self) -> None:
        if self._connected:
            self._ray.shutdown()
            self._connected = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(ray: Any, address: str | None) -> bool:
    """Connect this process to Ray unless it is already; True if this call connected it.

    Connection problems are :class:`ConfigError`: a wrong address is the usual cause.
    """
    if ray.is_initialized():
        return False
    if address is not None and address != "auto":
        check_reachable(address)
    with _sigterm_kept():
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as error:  # Ray raises ConnectionError, ValueError, RuntimeError, TimeoutError... by cause
            where = f"at {address}" if address else "(starting a local instance)"
            raise ConfigError(f"cannot connect to Ray {where}: {first_line(error, None)}") from None
    return True


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Keep this process's SIGTERM handler across ``ray.init``.

    Ray installs one that exits with status 15; a service manager, and uvicorn
    (which re-raises the signal after its graceful shutdown), expect a process
    stopped by SIGTERM to end by the signal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; Ray installs none from here
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an address nothing answers at (Ray itself would retry for minutes)."""
    if not ADDRESS.fullmatch(address):
        raise ConfigError(f"Ray address {address!r} is not auto, ray://HOST:PORT or HOST:PORT")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConfigError(
            f"cannot reach Ray at {address}: {reason(error)}; is the cluster up and its port open from here?"
        ) from None
