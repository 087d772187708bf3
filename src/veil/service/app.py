"""The ``veil serve`` application: one FastAPI app over one running :class:`Service`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from veil import __version__
from veil.errors import ConfigError, VeilError
from veil.service import events, protocol, rest, review_api, ui
from veil.service.credentials import SECRET_FIELDS
from veil.service.errors import rest_status
from veil.service.metrics import instrument
from veil.service.review import ReviewConflict
from veil.service.runtime import Service
from veil.service.settings import ServiceSettings
from veil.service.users import ensure_first_user

DESCRIPTION = """\
Anonymize every video that lands in the source bucket, and the jobs API around it.

* `/v1/...`: the native REST API (bearer token `VEIL_API_TOKEN`, or a reviewer's session).
* `/ui`: the review pages (sign in as a user from `veil users add`).
* `POST /events/s3`: Amazon S3 and MinIO bucket notifications (bearer token).
* `POST /`: an Amazon Rekognition-compatible job API (AWS JSON 1.1, Signature V4 with
  `VEIL_ACCESS_KEY_ID` / `VEIL_SECRET_ACCESS_KEY`): `StartFaceDetection`,
  `GetFaceDetection`, `DetectFaces`, `DetectCustomLabels`. Point
  `boto3.client("rekognition", endpoint_url=...)` at this server.
"""


def _rest_error(request: Request, error: Exception) -> JSONResponse:
    """The one place where veil's errors become native REST answers."""
    return JSONResponse({"detail": str(error)}, status_code=rest_status(error))


def _conflict(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


def create_app(settings: ServiceSettings) -> FastAPI:
    """Open the stores (errors surface here, before serving) and build the app; threads start with it."""
    missing = [f"VEIL_{field.upper()}" for field in SECRET_FIELDS if not getattr(settings, field)]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set: the service never runs without credentials")
    service = Service.open(settings)
    ensure_first_user(service.review.store, settings.data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(title="veil", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    app.add_exception_handler(VeilError, _rest_error)
    app.include_router(protocol.router)
    app.include_router(events.router)
    app.include_router(rest.router)
    instrument(app, service.jobs)
    app.include_router(review_api.router)
    app.include_router(review_api.overview_router)
    app.include_router(ui.router)
    app.add_exception_handler(ui.SignInRequired, ui.sign_in_redirect)
    app.add_exception_handler(ReviewConflict, _conflict)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """200 once the service accepts work."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """200 when the job store, the bucket, the workers and the watcher all answer; 503 otherwise."""
        checks = _readiness(service)
        return JSONResponse(
            {"ready": all(checks.values()), "checks": checks}, status_code=200 if all(checks.values()) else 503
        )

    return app


def _answers(check: Callable[[], object]) -> bool:
    try:
        check()
    except Exception:  # a health check reports failures, it does not raise them
        return False
    return True


def _readiness(service: Service) -> dict[str, bool]:
    source = service.settings.source_bucket
    return {
        "workers": service.workers_alive(),
        "watcher": service.watcher.alive,
        "job_store": _answers(lambda: service.jobs.list(limit=1)),
        "source_bucket": _answers(lambda: next(iter(service.objects.list_objects(source)), None)),
    }
