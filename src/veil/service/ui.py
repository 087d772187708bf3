"""The review pages (``/ui``): sign-in, the job list, the review screen of one job and its audit log.

Server-rendered HTML with a little vanilla JavaScript from ``/ui/static`` (no
build step, nothing fetched from elsewhere). Without a session, every page
redirects to the sign-in page and every media URL answers 401; only the sign-in
page and the static CSS/JS (code, no data) are public. Media are found by job id
alone (the keys come from the job record), so no key in a URL can reach another
object; originals are sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import html
import json
import secrets
from importlib.resources import files
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from veil.jobs.review import SessionRecord
from veil.media.still import frame_at
from veil.service import sessions, users
from veil.service.auth import ServiceDep

router = APIRouter(prefix="/ui", include_in_schema=False)
STATIC = {"app.css": "text/css", "jobs.js": "text/javascript", "review.js": "text/javascript"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """Raised by page dependencies without a session; answered with a redirect to the sign-in page."""


def page_session(request: Request) -> SessionRecord:
    session = sessions.session_of(request)
    if session is None:
        raise SignInRequired
    return session


def media_session(request: Request) -> SessionRecord:
    session = sessions.session_of(request)
    if session is None:
        raise HTTPException(401, "sign in first")
    return session


PageSession = Annotated[SessionRecord, Depends(page_session)]
MediaSession = Annotated[SessionRecord, Depends(media_session)]


def sign_in_redirect(request: Request, error: Exception) -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


def _page(
    title: str, body: str, session: SessionRecord | None = None, scripts: tuple[str, ...] = (), status: int = 200
) -> Response:
    e = html.escape
    nav = ""
    if session is not None:
        nav = (
            f'<nav><a href="/ui/jobs">Jobs</a><span class="user">{e(session.user)}</span>'
            f'<form method="post" action="/ui/logout"><input type="hidden" name="csrf_token" '
            f'value="{e(session.csrf_token)}"><button class="link">Sign out</button></form></nav>'
        )
    meta = f'<meta name="csrf-token" content="{e(session.csrf_token)}">' if session else ""
    tags = "".join(f'<script src="/ui/static/{name}" defer></script>' for name in scripts)
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · veil</title>{meta}<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/static/app.css">{tags}</head>
<body><header><a class="brand" href="/ui/jobs"><span class="logo">▦</span> veil <small>review</small></a>{nav}</header>
<main>{body}</main></body></html>"""
    return HTMLResponse(document, status_code=status, headers=SECURITY_HEADERS)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    content = (files("veil.service") / "static" / name).read_bytes()
    return Response(content, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("")
def home(session: PageSession) -> RedirectResponse:
    return RedirectResponse("/ui/jobs", status_code=303)


# -- signing in and out ---------------------------------------------------------------------------------------------


def _login_form(request: Request, error: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<section class="card login"><h1>Sign in</h1>{message}
<form method="post" action="/ui/login">
<input type="hidden" name="login_token" value="{token}">
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button class="primary">Sign in</button></form>
<p class="hint">Users are added with <code>veil users add NAME</code>.</p></section>"""
    response = _page("Sign in", body, status=status)
    sessions.set_cookie(request, response, sessions.LOGIN_COOKIE, token, 3600)
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login")
def login(
    request: Request,
    service: ServiceDep,
    user: Annotated[str, Form()],
    password: Annotated[str, Form()],
    login_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the password; on success start a session. The form's token must match its cookie (login CSRF)."""
    sessions.check_origin(request)
    expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, login_token):
        return _login_form(request, "The sign-in form expired; please try again.", status=403)
    if not users.verify(service.review.store, user, password):
        return _login_form(request, "Wrong user name or password.", status=401)
    response = RedirectResponse("/ui/jobs", status_code=303)
    sessions.start_session(request, response, user)
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, session: PageSession) -> Response:
    await sessions.check_csrf(request, session)
    response = RedirectResponse("/ui/login", status_code=303)
    sessions.end_session(request, response)
    return response


# -- pages ----------------------------------------------------------------------------------------------------------


@router.get("/jobs")
def jobs_page(session: PageSession) -> Response:
    body = """<section class="toolbar"><h1>Jobs</h1>
<form id="upload" class="upload"><label class="button">Choose video…
<input type="file" name="file" accept="video/*" hidden></label>
<span id="upload-name" class="muted">No file chosen</span>
<button class="primary" disabled>Upload</button></form></section>
<p id="upload-status" class="muted" role="status"></p>
<table class="jobs"><thead><tr><th>Video</th><th>State</th><th>Progress</th><th>Duration</th><th>Frames</th>
<th>Covered</th><th>Review</th><th>Created</th></tr></thead>
<tbody id="job-rows"><tr><td colspan="8" class="muted">Loading…</td></tr></tbody></table>"""
    return _page("Jobs", body, session, ("jobs.js",))


@router.get("/jobs/{job_id}")
def review_page(job_id: str, service: ServiceDep, session: PageSession) -> Response:
    job = service.jobs.get(job_id)
    name = html.escape(PurePosixPath(job.source_key).name)
    body = f"""<div id="review" data-job="{html.escape(job_id)}">
<section class="toolbar"><h1>{name}</h1><span id="state" class="badge">…</span>
<span id="message" class="message" role="status"></span><span class="spacer"></span>
<a class="button" href="/ui/jobs/{html.escape(job_id)}/log">Audit log</a>
<button id="rerender" class="button">Re-render</button><button id="approve" class="primary">Approve</button></section>
<div class="review-grid">
<section class="player-col">
<div class="stage"><video id="video" preload="auto" muted playsinline></video><canvas id="overlay"></canvas></div>
<div class="controls">
<div class="segmented" role="group" aria-label="Which video"><button id="show-anon" class="on">Anonymized</button>
<button id="show-orig">Original</button></div>
<button id="back" title="Previous frame (←)">◀︎</button><button id="play" title="Play / pause (space)">▶︎</button>
<button id="fwd" title="Next frame (→)">▶︎|</button><span id="clock" class="clock">frame –</span>
<span class="spacer"></span>
<button id="next-doubt" title="Next doubtful moment (n)">Doubtful <kbd>n</kbd></button>
<button id="draw" title="Draw a box to cover (d)">Region <kbd>d</kbd></button>
<button id="sound" title="Mute or bleep the sound (a)">Audio <kbd>a</kbd></button></div>
<div id="draw-panel" class="panel" hidden><span>Frames</span>
<input id="from" type="number" min="0" aria-label="From frame"><span>to</span>
<input id="to" type="number" min="0" aria-label="To frame">
<label class="check"><input id="follow" type="checkbox" checked> follow it</label>
<button id="add-region" class="primary">Add region</button>
<button id="add-mask">Fixed mask</button><button id="add-inverse">Cover all but this</button>
<button id="cancel-draw" class="link">Cancel</button></div>
<div id="audio-panel" class="panel" hidden><span>Sound of frames</span>
<input id="audio-from" type="number" min="0" aria-label="From frame"><span>to</span>
<input id="audio-to" type="number" min="0" aria-label="To frame"><button id="mute" class="primary">Mute</button>
<button id="bleep">Bleep</button><button id="cancel-audio" class="link">Cancel</button></div>
</section>
<aside class="side-col"><h2>Tracks <small id="track-count"></small></h2><ul id="tracks" class="tracks"></ul>
<h2>Corrections</h2><ul id="corrections" class="corrections"></ul>
<label class="style-pick">Style for the whole job <select id="style"><option value="">as processed</option>
<option>mosaic</option><option>blur</option><option>solid</option></select></label></aside>
</div>
<section class="timeline-wrap"><div class="timeline-head"><h2>Timeline</h2><span class="legend">
<i class="seen"></i> seen <i class="inferred"></i> inferred <i class="doubt"></i> doubtful · fainter = less confident
</span></div>
<div id="timeline" class="timeline"></div></section></div>"""
    return _page(f"Review {name}", body, session, ("jobs.js", "review.js"))


@router.get("/jobs/{job_id}/log")
def log_page(job_id: str, service: ServiceDep, session: PageSession) -> Response:
    e = html.escape
    events = service.review.events(job_id)
    rows = "".join(
        f"<tr><td>{event['id']}</td><td class='when' data-at='{event['at']}'>{event['at']:.3f}</td>"
        f"<td>{e(event['user'])}</td><td>{e(event['event'])}</td>"
        f"<td><details><summary>{e(_summary(event['details']))}</summary>"
        f"<pre>{e(json.dumps(event['details'], indent=1, sort_keys=True))}</pre></details></td></tr>"
        for event in events
    )
    body = f"""<section class="toolbar"><h1>Audit log</h1><span class="spacer"></span>
<a class="button" href="/ui/jobs/{e(job_id)}">Back to review</a>
<a class="primary button" href="/v1/jobs/{e(job_id)}/audit?download=true">Download JSON</a></section>
<table class="log"><thead><tr><th>#</th><th>When (UTC)</th><th>Who</th><th>What</th><th>Details</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return _page("Audit log", body, session, ("jobs.js",))


def _summary(details: dict[str, Any]) -> str:
    """One line of an event's details: its short fields (hashes shortened; settings left to the full view)."""
    parts = []
    for key, value in sorted(details.items()):
        if key in ("settings", "timings"):
            continue
        if key.endswith("sha256"):
            hashes = value.values() if isinstance(value, dict) else [value]
            value = ", ".join(str(h)[:12] + "…" for h in hashes)
        parts.append(f"{key}: {value if not isinstance(value, (dict, list)) else json.dumps(value)}")
    return "; ".join(parts)[:160] or "–"


# -- media ----------------------------------------------------------------------------------------------------------


@router.get("/media/{job_id}/{kind}")
async def media(
    job_id: str, kind: Literal["original", "anonymized"], service: ServiceDep, session: MediaSession
) -> Response:
    """The job's original or anonymized video, with range requests (for seeking); never cached."""
    job = service.review.finished(job_id) if kind == "anonymized" else service.jobs.get(job_id)
    path = await run_in_threadpool(service.review.media_file, job, kind)
    return FileResponse(
        path, media_type="video/mp4", headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )


@router.get("/media/{job_id}/thumb/{track_id}")
async def thumbnail(job_id: str, track_id: int, service: ServiceDep, session: MediaSession) -> Response:
    """A crop of the original around the track's most confident box (JPEG), never cached."""
    tracks = await run_in_threadpool(service.review.tracks, job_id)
    track = next((t for t in tracks["tracks"] if t["track_id"] == track_id), None)
    if track is None:
        raise HTTPException(404, f"job {job_id} has no track {track_id}")
    job = service.jobs.get(job_id)
    path = await run_in_threadpool(service.review.media_file, job, "original")
    timestamp = tracks["times_ms"].get(track["best_frame"], 0)
    image = await run_in_threadpool(frame_at, path, timestamp)
    return Response(
        _crop_jpeg(image, track["best_box"]), media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


def _crop_jpeg(image: np.ndarray, box: list[float], size: int = 96) -> bytes:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2 * width, (y1 + y2) / 2 * height
    side = max((x2 - x1) * width, (y2 - y1) * height) * 1.4 + 4
    left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    crop = image[top : int(min(top + side, height)), left : int(min(left + side, width))]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return bytes(cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])[1])
