"""The operations of the Amazon Rekognition-compatible job API, as functions of (service, request).

Each takes the decoded JSON request and returns the JSON response; every problem
is raised as the matching ``ApiError``. The wire protocol around them (routing,
Signature V4, error shapes) is in ``veil.service.protocol``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from veil.jobs import Job, JobState
from veil.records import FACE, PLATE, PLATE_LABEL, bounding_box
from veil.service.errors import (
    IdempotentParameterMismatchException,
    ImageTooLargeException,
    InvalidParameterException,
    VideoTooLargeException,
)
from veil.service.images import decode_image
from veil.service.runtime import Service

MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Largest ``Image.Bytes`` (as Rekognition)."""
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024
"""Largest image read from a bucket (as Rekognition)."""
MAX_VIDEO_BYTES = 10 * 1024**3
"""Largest video a job accepts (as Rekognition Video)."""
MAX_RESULTS = 1000
CLIENT_TOKEN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
JOB_TAG = re.compile(r"^[a-zA-Z0-9_.\-:+=/]{1,1024}$")

Params = dict[str, Any]


def _field(params: Params, name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise InvalidParameterException(f"Request has missing parameter {name}")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidParameterException(f"Request has invalid parameter {name}")
    return value


def _s3_object(params: Params) -> tuple[str, str]:
    s3 = _field(params, "S3Object", dict, required=True)
    bucket = _field(s3, "Bucket", str, required=True)
    name = _field(s3, "Name", str, required=True)
    if not bucket or not name:
        raise InvalidParameterException("S3Object needs a Bucket and a Name")
    return bucket, name


def _percent(params: Params, name: str) -> float | None:
    value = _field(params, name, (int, float))
    if value is not None and not 0 <= value <= 100:
        raise InvalidParameterException(f"{name} must be between 0 and 100")
    return None if value is None else float(value)


def _pattern(params: Params, name: str, pattern: re.Pattern[str]) -> str | None:
    value = _field(params, name, str)
    if value is not None and not pattern.match(value):
        raise InvalidParameterException(f"Request has invalid parameter {name}")
    return None if value is None else str(value)


def start_face_detection(service: Service, params: Params) -> Params:
    bucket, name = _s3_object(_field(params, "Video", dict, required=True))
    token = _pattern(params, "ClientRequestToken", CLIENT_TOKEN)
    tag = _pattern(params, "JobTag", JOB_TAG)
    info = service.objects.head(bucket, name)
    if info.size > MAX_VIDEO_BYTES:
        raise VideoTooLargeException(f"The video is larger than {MAX_VIDEO_BYTES // 1024**3} GB.")
    job, _ = service.submit(info, token=token, tag=tag)
    if (job.source_bucket, job.source_key) != (bucket, name):
        raise IdempotentParameterMismatchException(
            "ClientRequestToken was already used to start a job on another video."
        )
    return {"JobId": job.job_id}


def _job_head(job: Job) -> Params:
    response: Params = {
        "JobStatus": job.state.value,
        "JobId": job.job_id,
        "Video": {"S3Object": {"Bucket": job.source_bucket, "Name": job.source_key}},
    }
    if job.job_tag:
        response["JobTag"] = job.job_tag
    if job.state is JobState.FAILED:
        response["StatusMessage"] = job.message or "The job failed."
    return response


def get_face_detection(service: Service, params: Params) -> Params:
    job_id = _field(params, "JobId", str, required=True)
    max_results = _field(params, "MaxResults", int)
    if max_results is not None and max_results < 1:
        raise InvalidParameterException("MaxResults must be at least 1")
    page_size = min(max_results or MAX_RESULTS, MAX_RESULTS)
    token = _field(params, "NextToken", str)
    job = service.jobs.get(job_id)
    offset = service.tokens.decode(token, job.job_id) if token else 0
    response = _job_head(job)
    if job.state is not JobState.SUCCEEDED:
        return {**response, "Faces": []}
    faces = service.faces(job)
    response.update(VideoMetadata=job.video_metadata or {}, Faces=faces[offset : offset + page_size])
    if offset + page_size < len(faces):
        response["NextToken"] = service.tokens.encode(job.job_id, offset + page_size)
    return response


def _image(service: Service, params: Params) -> np.ndarray:
    image = _field(params, "Image", dict, required=True)
    if image.get("Bytes") is not None:
        try:
            data = base64.b64decode(_field(image, "Bytes", str), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterException("Image.Bytes must be base64-encoded") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageTooLargeException(f"Image size is larger than the maximum of {MAX_IMAGE_BYTES} bytes.")
        return decode_image(data)
    bucket, name = _s3_object(image)
    if service.objects.head(bucket, name).size > MAX_S3_IMAGE_BYTES:
        raise ImageTooLargeException(f"Image size is larger than the maximum of {MAX_S3_IMAGE_BYTES} bytes.")
    return decode_image(service.objects.get_bytes(bucket, name, max_bytes=MAX_S3_IMAGE_BYTES))


def _found(service: Service, class_name: str, params: Params) -> list[tuple[dict[str, float], float]]:
    """``(BoundingBox, Confidence)`` of each object of ``class_name`` at or above ``MinConfidence``, best first."""
    min_confidence = _percent(params, "MinConfidence") or 0.0
    image = _image(service, params)
    detections = service.images.detect(class_name, image)
    size = (image.shape[1], image.shape[0])
    found = [
        (bounding_box(tuple(box), size), round(float(score) * 100, 3))
        for box, score in zip(detections.boxes, detections.scores, strict=True)
    ]
    return sorted((item for item in found if item[1] >= min_confidence), key=lambda item: -item[1])


def detect_faces(service: Service, params: Params) -> Params:
    found = _found(service, FACE, params)
    return {"FaceDetails": [{"BoundingBox": box, "Confidence": confidence} for box, confidence in found]}


def detect_custom_labels(service: Service, params: Params) -> Params:
    _field(params, "ProjectVersionArn", str, required=True)
    max_results = _field(params, "MaxResults", int)
    if max_results is not None and max_results < 0:
        raise InvalidParameterException("MaxResults must not be negative")
    found = _found(service, PLATE, params)[:max_results]
    labels = [
        {"Name": PLATE_LABEL, "Confidence": confidence, "Geometry": {"BoundingBox": box}} for box, confidence in found
    ]
    return {"CustomLabels": labels}


OPERATIONS: dict[str, Callable[[Service, Params], Params]] = {
    "StartFaceDetection": start_face_detection,
    "GetFaceDetection": get_face_detection,
    "DetectFaces": detect_faces,
    "DetectCustomLabels": detect_custom_labels,
}
