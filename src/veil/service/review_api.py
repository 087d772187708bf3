"""The review REST API (``/v1/jobs/{id}/...``): tracks, corrections, re-render, approval and the audit log.

Callers authenticate as for the rest of ``/v1``: the bearer token, or a
reviewer's session (then every change carries the session's CSRF token). A
change is logged under the session's user; with the bearer token, approvals
name their reviewer in the body.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field, model_validator

from veil.redact.settings import RedactSettings
from veil.service.auth import PrincipalDep, ServiceDep

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["review"])
overview_router = APIRouter(prefix="/v1/review", tags=["review"])

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class CorrectionIn(BaseModel):
    """One correction. Frames are indices (from 0), ranges inclusive; boxes are fractions of the displayed frame."""

    kind: Literal["delete_track", "track_range", "region", "mask", "style", "audio"]
    track_id: int | None = Field(None, description="delete_track, track_range")
    start: int | None = Field(None, ge=0, description="first frame (track_range, region, mask, audio)")
    end: int | None = Field(None, ge=0, description="last frame, inclusive (track_range, region, mask, audio)")
    box: tuple[Fraction, Fraction, Fraction, Fraction] | None = Field(
        None, description="x1, y1, x2, y2 as fractions of the displayed frame (region, mask)"
    )
    invert: bool = Field(False, description="mask: cover everything except the box")
    style: str | None = Field(None, description="style: mosaic, blur or solid")
    bleep: bool = Field(False, description="audio: a 1 kHz tone instead of silence")
    follow: bool = Field(False, description="region: follow the box through the shot from frame `anchor`")
    anchor: int | None = Field(None, ge=0, description="region with follow: the frame the box was drawn on")

    @model_validator(mode="after")
    def _complete(self) -> CorrectionIn:
        needs = {
            "delete_track": ("track_id",),
            "track_range": ("track_id", "start", "end"),
            "region": ("box", "start", "end"),
            "mask": ("box", "start", "end"),
            "style": ("style",),
            "audio": ("start", "end"),
        }[self.kind]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} correction needs {', '.join(missing)}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end comes before start")
        if self.box is not None and (self.box[2] <= self.box[0] or self.box[3] <= self.box[1]):
            raise ValueError("the box has no area (x2 must exceed x1, y2 must exceed y1)")
        if self.style is not None:
            RedactSettings(style=self.style)  # raises for an unknown style
        return self


class ApprovalIn(BaseModel):
    reviewer: str | None = Field(None, description="who approves (required with the bearer token)")
    note: str | None = Field(None, max_length=2000)


@router.get("/tracks")
def tracks(job_id: str, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """One row per track of the first run (runs of seen and inferred frames, no per-frame boxes), doubtful moments."""
    return {key: value for key, value in service.review.tracks(job_id).items() if key != "times_ms"}


@router.get("/review")
def review_status(job_id: str, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """The current version, its render state and progress, and its approval."""
    return service.review.status(job_id)


@router.get("/corrections")
def list_corrections(
    job_id: str,
    service: ServiceDep,
    principal: PrincipalDep,
    include_undone: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    service.review.finished(job_id)
    records = service.review.store.corrections(job_id, include_undone=include_undone)
    return {"corrections": [record.to_json() for record in records]}


@router.post("/corrections", status_code=201)
def add_correction(job_id: str, body: CorrectionIn, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Store a correction (it changes the video at the next re-render)."""
    values = body.model_dump(exclude_none=True, exclude_defaults=True)
    values["kind"] = body.kind
    if body.follow and body.kind == "region":
        values = service.review.follow(job_id, values, body.anchor if body.anchor is not None else body.start or 0)
    return service.review.add_correction(job_id, principal.user, values)


@router.delete("/corrections/{correction_id}", status_code=204)
def undo_correction(job_id: str, correction_id: int, service: ServiceDep, principal: PrincipalDep) -> Response:
    """Undo a correction (it stays in the log, marked undone)."""
    service.review.undo(job_id, correction_id, principal.user)
    return Response(status_code=204)


@router.post("/rerender", status_code=202)
def rerender(job_id: str, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Render the job again from its tracks and active corrections, without detecting again."""
    return {"version": service.review.rerender(job_id, principal.user), "render_state": "rendering"}


@router.post("/approve")
def approve(job_id: str, body: ApprovalIn, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Sign the current version off: by the signed-in user, or (bearer token) the named ``reviewer``."""
    reviewer = principal.user if principal.via == "session" else body.reviewer
    if not reviewer:
        raise HTTPException(422, "name the reviewer who approves")
    service.review.approve(job_id, reviewer, body.note)
    return service.review.status(job_id)


@router.get("/audit")
def audit(
    job_id: str,
    service: ServiceDep,
    principal: PrincipalDep,
    download: Annotated[bool, Query(description="as a file to save")] = False,
) -> Response:
    """The job's append-only log: who did what and when, with SHA-256 of input and outputs, settings and models."""
    body = json.dumps({"job_id": job_id, "events": service.review.events(job_id)}, indent=2)
    headers = {"Content-Disposition": f'attachment; filename="veil-audit-{job_id}.json"'} if download else {}
    return Response(body, media_type="application/json", headers=headers)


@overview_router.get("/overview")
def overview(
    service: ServiceDep,
    principal: PrincipalDep,
    job_ids: Annotated[list[str], Query(alias="job_id", max_length=200, description="jobs to describe")],
) -> dict[str, Any]:
    """For the job list: each job's tracks per class and its current approval."""
    return {"jobs": [service.review.overview(job_id) for job_id in job_ids]}
