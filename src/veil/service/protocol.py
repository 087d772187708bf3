"""The AWS JSON 1.1 protocol at ``POST /``: Signature V4, ``X-Amz-Target`` routing, error shapes.

This is the one place where any exception raised while serving the job API
becomes the protocol's ``{"__type", "Message"}`` answer (see ``errors.api_error``).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from veil.service.errors import ImageTooLargeException, SerializationException, UnknownOperationException, api_error
from veil.service.rekognition import OPERATIONS, Params
from veil.service.runtime import Service
from veil.service.sigv4 import SignedRequest, verify

log = logging.getLogger(__name__)

TARGET_PREFIX = "RekognitionService."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""Largest request body read: a 5 MB image, base64-encoded, and the JSON around it."""

router = APIRouter()


def _signed_request(request: Request, body: bytes) -> SignedRequest:
    headers = {name: ",".join(request.headers.getlist(name)) for name in request.headers}
    return SignedRequest(
        method=request.method,
        path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


def _operation(target: str | None) -> str:
    name = target.removeprefix(TARGET_PREFIX) if target and target.startswith(TARGET_PREFIX) else None
    if name not in OPERATIONS:
        raise UnknownOperationException(f"Unknown operation {target or '(no X-Amz-Target header)'}")
    return name


def _params(body: bytes) -> Params:
    try:
        params = json.loads(body) if body.strip() else {}
    except ValueError:
        raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(params, dict):
        raise SerializationException("The request body must be a JSON object.")
    return params


async def _body(request: Request) -> bytes:
    if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:
        raise ImageTooLargeException(f"The request is larger than {MAX_REQUEST_BYTES} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_REQUEST_BYTES:
            raise ImageTooLargeException(f"The request is larger than {MAX_REQUEST_BYTES} bytes.")
    return bytes(body)


def _answer(status: int, document: dict[str, Any]) -> Response:
    return Response(
        json.dumps(document, separators=(",", ":")),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


@router.post("/", include_in_schema=False)
async def job_api(request: Request) -> Response:
    """Every operation of the Rekognition-compatible job API."""
    service: Service = request.app.state.service
    settings = service.settings
    try:
        body = await _body(request)
        verify(_signed_request(request, body), {settings.access_key_id or "": settings.secret_access_key or ""})
        operation = OPERATIONS[_operation(request.headers.get("x-amz-target"))]
        result = await run_in_threadpool(operation, service, _params(body))
    except Exception as error:  # the one place errors become protocol answers
        answer = api_error(error)
        if answer.status >= 500:
            log.exception("job API request failed")
        return _answer(answer.status, answer.body())
    return _answer(200, result)
