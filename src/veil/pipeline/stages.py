"""Threads joined by bounded channels, failing together.

Decoding, inference and encoding each release the GIL, so running them on their
own threads overlaps them; bounded channels keep memory flat. When any stage
fails, every other stage stops at its next ``put`` or ``get`` and the first
error is raised to the caller: a failed stage can never let the others run on.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_END = object()
_POLL_SECONDS = 0.1


class Aborted(Exception):
    """Raised inside a stage when another stage has failed."""


class Channel(Generic[T]):
    """A bounded queue between two stages that gives up when the run is aborted."""

    def __init__(self, abort: threading.Event, maxsize: int = 8) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self._abort = abort

    def put(self, item: T) -> None:
        self._put(item)

    def close(self) -> None:
        """Tell the consumer that nothing more will come."""
        self._put(_END)

    def _put(self, item: object) -> None:
        while not self._abort.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue
        raise Aborted

    def __iter__(self) -> Iterator[T]:
        while True:
            if self._abort.is_set():
                raise Aborted
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item  # type: ignore[misc]


class StageGroup:
    """Runs stage functions on threads; the first error aborts all and is re-raised."""

    def __init__(self) -> None:
        self.abort = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def channel(self, maxsize: int = 8) -> Channel[Any]:
        return Channel(self.abort, maxsize)

    def start(self, name: str, stage: Callable[[], None]) -> None:
        # In a copy of the caller's context: the stage's log lines name the caller's job.
        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._guard, stage), name=f"veil-{name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def run_here(self, stage: Callable[[], None]) -> None:
        """Run a stage on the calling thread, then wait for all; raise the first error."""
        self._guard(stage)
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise self._errors[0]

    def _guard(self, stage: Callable[[], None]) -> None:
        try:
            stage()
        except Aborted:
            pass
        except BaseException as error:
            with self._lock:
                self._errors.append(error)
            self.abort.set()
