"""Authentication of the native REST API and ``/events/s3``: the bearer token, or a reviewer's session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from veil.service.runtime import Service
from veil.service.sessions import Principal, principal

_bearer = HTTPBearer(auto_error=False, description="The service's API token (VEIL_API_TOKEN).")


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Refuse the request unless it carries ``Authorization: Bearer <VEIL_API_TOKEN>`` or a reviewer's session.

    A change made with a session must carry its CSRF token (see :mod:`veil.service.sessions`).
    """
    found = await principal(request)
    if found is None:
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
    return found


Authenticated = Depends(require_token)
ServiceDep = Annotated[Service, Depends(get_service)]
PrincipalDep = Annotated[Principal, Depends(require_token)]
