"""The HTTP server of ``veil serve``: uvicorn's, with a stop that a container's SIGTERM ends with status 0."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a stop signal it handled gracefully ends the process with status 0.

    uvicorn raises the signal again after its shutdown, so a SIGTERM would end
    ``veil serve`` with 143 even when every running job was handed back in time
    (see ``VEIL_STOP_GRACE_SECONDS``).
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
