"""Who is asking: a signed-in reviewer (session cookie) or a client with the API token (bearer).

Sessions: a random token in the ``veil_session`` cookie (HttpOnly, SameSite=Strict,
Secure over HTTPS), stored server-side by its SHA-256 with the user and a CSRF
token, so sign-ins survive a restart and signing out ends them. Every request
that changes something and is authenticated by the cookie must also carry the
session's CSRF token (``X-CSRF-Token`` header, or a ``csrf_token`` form field for
the few plain forms) and, when the browser sends one, an ``Origin`` of this
server. Bearer-token requests need no CSRF token: a browser never adds that header
on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response

from veil.jobs.review import SessionRecord
from veil.service.runtime import Service

COOKIE = "veil_session"
LOGIN_COOKIE = "veil_login"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The caller: a named user (``via`` "session") or the API token's holder (``via`` "token")."""

    user: str
    via: str
    csrf_token: str = ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def start_session(request: Request, response: Response, user: str) -> None:
    token = secrets.token_urlsafe(32)
    _service(request).review.store.add_session(_digest(token), user, secrets.token_urlsafe(32), SESSION_SECONDS)
    set_cookie(request, response, COOKIE, token, int(SESSION_SECONDS))


def end_session(request: Request, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        _service(request).review.store.end_session(_digest(token))
    response.delete_cookie(COOKIE, path="/")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def session_of(request: Request) -> SessionRecord | None:
    token = request.cookies.get(COOKIE)
    return _service(request).review.store.session(_digest(token)) if token else None


def check_origin(request: Request) -> None:
    """Refuse a change whose ``Origin`` (when the browser sends one) is not this server."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise HTTPException(403, "cross-origin request refused")


async def check_csrf(request: Request, session: SessionRecord) -> None:
    """Refuse a cookie-authenticated change without the session's CSRF token."""
    check_origin(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        given = str((await request.form()).get("csrf_token", ""))
    if not given or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def bearer_valid(request: Request) -> bool:
    expected = (_service(request).settings.api_token or "").encode()
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


async def principal(request: Request) -> Principal | None:
    """The caller if authenticated (a change by cookie must pass the CSRF check, else 403); None otherwise."""
    if bearer_valid(request):
        return Principal("api-token", "token")
    session = session_of(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session)
    return Principal(session.user, "session", session.csrf_token)
