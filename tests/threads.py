"""Run calls on threads at once, as replicas starting together would, without ever waiting forever."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


def run_together(calls: Sequence[Callable[[], Any]], timeout: float = 60.0) -> list[Any]:
    """Each call on a daemon thread of its own, all released at once; their results, in order.

    Raises the first error a call raised. Every wait is bounded: the barrier and
    the joins give up after ``timeout`` seconds (a call still running then fails
    the test, and its daemon thread cannot hold up the interpreter's exit).
    """
    barrier = threading.Barrier(len(calls), timeout=timeout)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as error:  # reported to the test below
            errors.append(error)
            barrier.abort()  # nobody waits at the barrier for a thread that will not come

    threads = [
        threading.Thread(target=run, args=(index, call), name=f"test-together-{index}", daemon=True)
        for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    running = [thread.name for thread in threads if thread.is_alive()]
    assert not running, f"still running after {timeout} s: {running}"
    if errors:
        raise errors[0]
    return results
