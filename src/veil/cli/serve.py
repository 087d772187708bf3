"""``veil serve``: the HTTP API, the workers and the bucket watcher in one process.

Its flags are derived from :class:`veil.service.settings.ServiceSettings`: each is
also the variable ``VEIL_NAME``, with the setting's own default and description.
Secrets are read from the environment only (a flag would show in ``ps``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import typer
from pydantic.fields import FieldInfo

from veil.cli.fields import with_field_options
from veil.errors import VeilError

SERVE_HELP = """Anonymize every video that lands in the source bucket, with a job API that existing clients can call.

Each new object whose key ends with a video suffix becomes one job; the result
appears in the output bucket as NAME/mosaic/NAME.mp4 and NAME/detections.json.
Jobs also start from POST /events/s3 (S3 or MinIO notifications), the REST API
(/v1, documented at /docs) and the Rekognition-compatible job API (POST /).

Every option below is also an environment variable (VEIL_NAME); a flag wins.
Secrets come from the environment only: VEIL_API_TOKEN (REST and events bearer
token), VEIL_ACCESS_KEY_ID and VEIL_SECRET_ACCESS_KEY (the key pair job-API
requests are signed with); unset, they are generated into DATA_DIR/credentials.json.
Accepted aliases of the replaced cloud function: OUTPUT_BUCKET, MAX_WORKERS,
FACE_MIN_CONFIDENCE and LICENSE_PLATE_MIN_CONFIDENCE (percent).
"""


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``; without the ``serve`` extra, a ``serve`` that says what to install."""
    try:
        from veil.service.settings import ServiceSettings
    except ModuleNotFoundError as error:
        app.command(name="serve", help=SERVE_HELP)(_extra_missing(error))
        return
    from veil.pipeline.options import anonymize_option_fields

    options = dict(anonymize_option_fields())
    own = {name: info for name, info in ServiceSettings.model_fields.items() if name not in options}
    command = with_field_options(_flag_fields(own), "Service", env_prefix="VEIL_")(serve)
    command = with_field_options(_flag_fields(options), "Anonymization (every job)", env_prefix="VEIL_")(command)
    app.command(name="serve", help=SERVE_HELP)(command)


def _flag_fields(fields: dict[str, FieldInfo]) -> Iterator[tuple[str, FieldInfo]]:
    """Settings that make sense as flags: not secrets (``repr=False``), not legacy aliases (``exclude=True``)."""
    return ((name, info) for name, info in fields.items() if info.repr and not info.exclude)


def _extra_missing(error: ModuleNotFoundError) -> Any:
    def serve() -> None:
        _say_extra_missing(error)

    return serve


def _say_extra_missing(error: ModuleNotFoundError) -> None:
    print(f"veil: error: veil serve needs the serve extra ({error}): pip install 'veil[serve]'", file=sys.stderr)
    raise typer.Exit(1)


def serve(**flags: Any) -> None:
    from veil.cli.exit_codes import exit_code
    from veil.logs import configure as configure_logs
    from veil.pipeline.heap import pin_malloc_thresholds

    try:
        from veil.service.app import create_app
        from veil.service.credentials import resolve_secrets
        from veil.service.serving import run_server
        from veil.service.settings import load_settings
    except ModuleNotFoundError as missing:  # the serve extra is optional
        _say_extra_missing(missing)

    pin_malloc_thresholds()
    try:
        settings, secrets_file = resolve_secrets(load_settings(**flags))
        configure_logs(settings.log_format)
        app = create_app(settings)
    except (VeilError, OSError) as error:
        print(f"veil: error: {error}", file=sys.stderr)
        raise typer.Exit(exit_code(error)) from None
    run_server(app, settings, secrets_file)
