"""``veil serve``: the HTTP API, the workers and the bucket watcher in one process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from veil.errors import VeilError


def _option(env: str, default: str, text: str) -> object:
    return typer.Option(help=f"{text} (env {env}; default {default})", show_default=False)


def serve(
    data_dir: Annotated[Optional[Path], _option("VEIL_DATA_DIR", "./veil-data", "Local buckets (one folder each), job database, generated secrets.")] = None,
    host: Annotated[Optional[str], _option("VEIL_HOST", "127.0.0.1", "Address to listen on.")] = None,
    port: Annotated[Optional[int], _option("VEIL_PORT", "8080", "Port to listen on.")] = None,
    workers: Annotated[Optional[int], _option("VEIL_WORKERS", "the number of cores", "Videos processed at the same time.")] = None,
    source_bucket: Annotated[Optional[str], _option("VEIL_SOURCE_BUCKET", "source", "Bucket watched for new videos.")] = None,
    output_bucket: Annotated[Optional[str], _option("VEIL_OUTPUT_BUCKET", "output", "Bucket the results are written to.")] = None,
    s3_endpoint: Annotated[Optional[str], _option("VEIL_S3_ENDPOINT", "none: local folders", "S3-compatible endpoint URL.")] = None,
    engine: Annotated[Optional[str], _option("VEIL_ENGINE", "local", "Where each job's segments run: local or ray.")] = None,
    ray_address: Annotated[Optional[str], _option("VEIL_RAY_ADDRESS", "a local Ray instance", "With --engine ray: auto, ray://HOST:PORT or HOST:PORT.")] = None,
    jobs: Annotated[Optional[int], _option("VEIL_JOBS", "1 (local) or the cluster's CPUs (ray)", "Segments of one video processed at once.")] = None,
    segment_seconds: Annotated[Optional[float], _option("VEIL_SEGMENT_SECONDS", "duration / jobs, at least 10 s", "Split videos at keyframes into segments of about this length.")] = None,
    log_format: Annotated[Optional[str], _option("VEIL_LOG_FORMAT", "text", "Log lines: text or json.")] = None,
) -> None:
    """Anonymize every video that lands in the source bucket, with a job API that existing clients can call.

    Each new object whose key ends with a video suffix becomes one job; the result
    appears in the output bucket as NAME/mosaic/NAME.mp4 and NAME/detections.json.
    Jobs also start from POST /events/s3 (S3 or MinIO notifications), the REST API
    (/v1, documented at /docs) and the Rekognition-compatible job API (POST /).

    Other settings, as environment variables: VEIL_API_TOKEN (REST and events bearer
    token), VEIL_ACCESS_KEY_ID and VEIL_SECRET_ACCESS_KEY (the key pair job-API
    requests are signed with; all three are generated into DATA_DIR/credentials.json
    when unset), VEIL_S3_REGION, VEIL_DATABASE_URL (default sqlite:///DATA_DIR/veil.db;
    postgresql://USER:PASSWORD@HOST:PORT/DB for replicas sharing the work),
    VEIL_SCRATCH_DIR (DATA_DIR/scratch: the jobs' un-anonymized staging files),
    VEIL_SUFFIXES (.mov .mp4 .m4v .mkv .avi), VEIL_CLASSES (face,plate),
    VEIL_FACE_THRESHOLD and VEIL_PLATE_THRESHOLD (0-1), VEIL_POLL_SECONDS (2),
    VEIL_LEASE_SECONDS (30), VEIL_STOP_GRACE_SECONDS (8: on SIGTERM, running jobs
    finish or are handed back within it; keep it under the container's stop timeout),
    VEIL_MAX_ATTEMPTS (3, also the attempts of each segment on Ray), VEIL_WRITE_FRAMES
    (false), VEIL_SCRATCH_BUCKET (veil-scratch: where Ray tasks stage segment files; on
    a cluster of several machines the store must be S3).
    Accepted aliases: OUTPUT_BUCKET, MAX_WORKERS, FACE_MIN_CONFIDENCE and
    LICENSE_PLATE_MIN_CONFIDENCE (percent).
    """
    from veil.logs import configure as configure_logs
    from veil.service.app import create_app
    from veil.service.credentials import resolve_secrets
    from veil.service.serving import run_server
    from veil.service.settings import load_settings

    try:
        settings, secrets_file = resolve_secrets(load_settings(
            data_dir=data_dir, host=host, port=port, workers=workers,
            source_bucket=source_bucket, output_bucket=output_bucket, s3_endpoint=s3_endpoint,
            engine=engine, ray_address=ray_address, jobs=jobs, segment_seconds=segment_seconds, log_format=log_format,
        ))
        configure_logs(settings.log_format)
        app = create_app(settings)
    except (VeilError, OSError) as error:
        print(f"veil: error: {error}", file=sys.stderr)
        raise typer.Exit(getattr(error, "exit_code", 1)) from None
    run_server(app, settings, secrets_file)

