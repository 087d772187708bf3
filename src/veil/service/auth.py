"""Bearer-token authentication of the native REST API and ``/events/s3``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from veil.service.runtime import Service

_bearer = HTTPBearer(auto_error=False, description="The service's API token (VEIL_API_TOKEN).")


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Refuse the request unless it carries ``Authorization: Bearer <VEIL_API_TOKEN>``."""
    expected = (get_service(request).settings.api_token or "").encode()
    given = (credentials.credentials if credentials else "").encode()
    if not expected or not hmac.compare_digest(given, expected):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


Authenticated = Depends(require_token)
ServiceDep = Annotated[Service, Depends(get_service)]
