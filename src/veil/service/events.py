"""Bucket notifications at ``POST /events/s3``: Amazon S3 event notifications and MinIO webhooks.

S3 sends ``{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name"},
"object": {"key"}}}]}`` with the key URL-encoded (``+`` for a space); MinIO sends
the same records wrapped with ``EventName`` and ``Key`` (``bucket/key``). Each new
video in the source bucket is submitted; the job store makes a repeated event a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel

from veil.errors import ObjectNotFound
from veil.service.auth import Authenticated, ServiceDep
from veil.service.runtime import Service

router = APIRouter(tags=["events"])


@dataclass(frozen=True)
class ObjectEvent:
    """One record of a notification: what happened to which object."""

    name: str
    bucket: str
    key: str

    @property
    def created(self) -> bool:
        return self.name.removeprefix("s3:").startswith("ObjectCreated:")


def _record(record: Any) -> ObjectEvent:
    try:
        s3 = record["s3"]
        return ObjectEvent(str(record["eventName"]), str(s3["bucket"]["name"]), unquote_plus(str(s3["object"]["key"])))
    except (KeyError, TypeError):
        raise ValueError("an event record needs eventName, s3.bucket.name and s3.object.key") from None


def parse_notification(body: Any) -> list[ObjectEvent]:
    """The object events of an S3 or MinIO notification (none for S3's test event); ValueError if malformed."""
    if not isinstance(body, dict):
        raise ValueError("a notification is a JSON object")
    if "Records" in body and isinstance(body["Records"], list):
        return [_record(record) for record in body["Records"]]
    if isinstance(body.get("EventName"), str) and isinstance(body.get("Key"), str) and "/" in body["Key"]:
        bucket, key = body["Key"].split("/", 1)
        return [ObjectEvent(body["EventName"], bucket, unquote_plus(key))]
    if str(body.get("Event", "")).endswith("TestEvent"):
        return []
    raise ValueError("not an S3 or MinIO notification: no Records")


class SubmittedJob(BaseModel):
    job_id: str
    bucket: str
    key: str
    created: bool


class IgnoredEvent(BaseModel):
    bucket: str
    key: str
    reason: str


class EventsAccepted(BaseModel):
    jobs: list[SubmittedJob]
    ignored: list[IgnoredEvent]


def _why_ignored(service: Service, event: ObjectEvent) -> str | None:
    if not event.created:
        return f"{event.name} is not an ObjectCreated event"
    if event.bucket != service.settings.source_bucket:
        return f"not the source bucket ({service.settings.source_bucket})"
    if not service.settings.matches(event.key):
        return f"key does not end with {', '.join(service.settings.suffixes)}"
    return None


def submit_events(service: Service, events: list[ObjectEvent]) -> EventsAccepted:
    accepted = EventsAccepted(jobs=[], ignored=[])
    for event in events:
        reason = _why_ignored(service, event)
        if reason is None:
            try:
                job, created = service.submit(service.objects.head(event.bucket, event.key))
                accepted.jobs.append(
                    SubmittedJob(job_id=job.job_id, bucket=event.bucket, key=event.key, created=created)
                )
                continue
            except ObjectNotFound:
                reason = "no such object"
        accepted.ignored.append(IgnoredEvent(bucket=event.bucket, key=event.key, reason=reason))
    return accepted


@router.post("/events/s3", dependencies=[Authenticated], response_model=EventsAccepted)
def s3_event(service: ServiceDep, notification: Annotated[dict[str, Any], Body()]) -> EventsAccepted:
    """Start a job for each new video an S3 or MinIO bucket notification names (repeats start nothing)."""
    try:
        events = parse_notification(notification)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    return submit_events(service, events)
