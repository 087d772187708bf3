"""The HTTP server of ``veil serve``: uvicorn's, with a stop that a container's SIGTERM ends with status 0."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from veil.service.settings import ServiceSettings

log = logging.getLogger("veil")


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


def run_server(app: FastAPI, settings: ServiceSettings, secrets_file: Path | None) -> None:
    """Say what is served (and where generated secrets are), then serve until a stop signal."""
    if secrets_file is not None:
        log.info("credentials not set in the environment are in %s (readable only by you)", secrets_file)
        if not settings.job_store_url.startswith("sqlite:"):
            log.warning(
                "replicas on one job store must share VEIL_API_TOKEN, VEIL_ACCESS_KEY_ID and "
                "VEIL_SECRET_ACCESS_KEY: set them in the environment of every replica"
            )
    log.info(
        "serving on http://%s:%s with %d workers on the %s engine; watching bucket %r, writing to %r",
        settings.host,
        settings.port,
        settings.workers,
        settings.engine,
        settings.source_bucket,
        settings.output_bucket,
    )
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="info", log_config=None, timeout_graceful_shutdown=1
    )
    GracefulServer(config).run()
