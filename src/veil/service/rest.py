"""The native REST API (``/v1``, documented at ``/docs``): jobs from bucket objects or uploads.

A job started here is logged as created by its caller: the signed-in reviewer, or ``api-token``.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from veil.errors import JobNotFound
from veil.jobs import Job, JobState
from veil.service.auth import Authenticated, PrincipalDep, ServiceDep
from veil.service.runtime import OutputReplaced, Service
from veil.storage import ObjectInfo

router = APIRouter(prefix="/v1", tags=["jobs"], dependencies=[Authenticated])


class Progress(BaseModel):
    frames_done: int
    frames_total: int | None
    fps: float | None = Field(description="frames per second of the running attempt")
    fraction: float | None = Field(description="frames_done / frames_total, 0-1")


class SourceObject(BaseModel):
    bucket: str
    key: str
    etag: str


class OutputLocation(BaseModel):
    bucket: str
    video_key: str = Field(description="<name>/mosaic/<name>.mp4")
    detections_key: str = Field(description="<name>/detections.json")
    video_path: str = Field(description="where this API serves the video")


class JobOut(BaseModel):
    job_id: str
    state: JobState = Field(description="IN_PROGRESS, SUCCEEDED or FAILED")
    detail: str = Field(description="queued, running, succeeded or failed")
    message: str | None = Field(description="why the job failed")
    source: SourceObject
    output: OutputLocation | None = Field(description="set once the job has SUCCEEDED")
    progress: Progress
    timings: dict[str, float] = Field(description="seconds of work per pipeline stage")
    video_metadata: dict[str, Any] | None
    attempts: int
    max_attempts: int
    client_request_token: str | None
    job_tag: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        total = job.frames_total
        output = None
        if job.state is JobState.SUCCEEDED and job.output_key and job.detections_key:
            output = OutputLocation(
                bucket=job.output_bucket,
                video_key=job.output_key,
                detections_key=job.detections_key,
                video_path=f"/v1/jobs/{job.job_id}/video",
            )
        return cls(
            job_id=job.job_id,
            state=job.state,
            detail=job.detail,
            message=job.message,
            source=SourceObject(bucket=job.source_bucket, key=job.source_key, etag=job.source_etag),
            output=output,
            progress=Progress(
                frames_done=job.frames_done,
                frames_total=total,
                fps=job.fps,
                fraction=min(job.frames_done / total, 1.0) if total else None,
            ),
            timings=job.timings,
            video_metadata=job.video_metadata,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            client_request_token=job.client_request_token,
            job_tag=job.job_tag,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
        )


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CreateJob(BaseModel):
    key: str = Field(min_length=1, description="object key of the video")
    bucket: str | None = Field(None, description="bucket of the video; default: the source bucket")


def _created(response: Response, job: Job, created: bool) -> JobOut:
    response.status_code = 201 if created else 200
    return JobOut.of(job)


@router.post(
    "/jobs",
    response_model=JobOut,
    status_code=201,
    responses={200: {"description": "the job of this object version already existed"}},
)
def create_job(body: CreateJob, service: ServiceDep, caller: PrincipalDep, response: Response) -> JobOut:
    """Anonymize a video that is already in a bucket (one job per object version)."""
    info = service.objects.head(body.bucket or service.settings.source_bucket, body.key)
    return _created(response, *service.submit(info, user=caller.user))


def _upload(service: Service, upload: UploadFile, key: str) -> ObjectInfo:
    with tempfile.TemporaryDirectory(prefix="veil-upload-") as folder:
        path = Path(folder) / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
        service.objects.upload(service.settings.source_bucket, key, path, content_type=upload.content_type)
    return service.objects.head(service.settings.source_bucket, key)


@router.post("/jobs/upload", response_model=JobOut, status_code=201)
def upload_job(
    service: ServiceDep,
    caller: PrincipalDep,
    response: Response,
    file: Annotated[UploadFile, File(description="the video")],
    key: Annotated[str | None, Form(description="object key in the source bucket; default: the file's name")] = None,
) -> JobOut:
    """Upload a video into the source bucket and anonymize it."""
    key = key or PurePosixPath(file.filename or "").name
    if not key:
        raise HTTPException(422, "give the object key or a file name")
    return _created(response, *service.submit(_upload(service, file, key), user=caller.user))


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    service: ServiceDep,
    state: Annotated[JobState | None, Query(description="only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> JobPage:
    """Jobs, newest first."""
    try:
        jobs, next_cursor = service.jobs.list(state=state, limit=limit, after=cursor)
    except JobNotFound:
        raise HTTPException(400, f"unknown cursor {cursor!r}") from None
    return JobPage(jobs=[JobOut.of(job) for job in jobs], next_cursor=next_cursor)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, service: ServiceDep) -> JobOut:
    """One job: state, progress, timings, error and output location."""
    return JobOut.of(service.jobs.get(job_id))


def _finished(service: Service, job_id: str) -> Job:
    job = service.jobs.get(job_id)
    if job.state is not JobState.SUCCEEDED or not job.output_key or not job.detections_key:
        raise HTTPException(409, f"job {job_id} is {job.state.value}: no output")
    try:
        service.check_outputs(job)
    except OutputReplaced as error:
        raise HTTPException(410, str(error)) from None
    return job


@router.get("/jobs/{job_id}/video", response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}})
def download_video(job_id: str, service: ServiceDep) -> FileResponse:
    """The anonymized video of a job that has SUCCEEDED."""
    job = _finished(service, job_id)
    folder = Path(tempfile.mkdtemp(prefix="veil-download-"))
    name = PurePosixPath(job.output_key or "video.mp4").name
    try:
        service.objects.download(job.output_bucket, job.output_key or "", folder / name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        folder / name, media_type="video/mp4", filename=name, background=BackgroundTask(shutil.rmtree, folder, True)
    )


@router.get("/jobs/{job_id}/detections")
def download_detections(job_id: str, service: ServiceDep) -> Response:
    """Every detection of a job that has SUCCEEDED, as ``detections.json`` (job-API shapes)."""
    job = _finished(service, job_id)
    return Response(
        service.objects.get_bytes(job.output_bucket, job.detections_key or ""), media_type="application/json"
    )
