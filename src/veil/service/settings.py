"""Every setting of ``veil serve``: typed, validated at start-up, from flags or ``VEIL_*`` variables.

The replaced cloud function's settings are accepted as documented aliases so a
migrating user's environment keeps working: ``OUTPUT_BUCKET``, ``MAX_WORKERS``,
``FACE_MIN_CONFIDENCE`` and ``LICENSE_PLATE_MIN_CONFIDENCE`` (both in percent).
"""

from __future__ import annotations

import copy
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from veil.errors import ConfigError
from veil.parallel import threads_per_task
from veil.pipeline import AnonymizeOptions
from veil.pipeline.options import anonymize_option_fields

DEFAULT_SUFFIXES = (".mov", ".mp4", ".m4v", ".mkv", ".avi")


def _aliases(name: str, *legacy: str) -> AliasChoices:
    """``VEIL_NAME``, then legacy names (keyword arguments use the field's name)."""
    return AliasChoices(f"VEIL_{name.upper()}", *legacy)


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part for part in value.replace(",", " ").split() if part)
    return value


def _legacy_percent(variable: str, setting: str) -> Any:
    """A setting of the replaced cloud function: ``variable``, in percent, read into ``setting`` (0-1)."""
    return Field(
        None,
        gt=0,
        lt=100,
        validation_alias=variable,
        exclude=True,
        description=f"legacy alias of {setting}, in percent",
    )


def _option_field(info: FieldInfo) -> tuple[Any, FieldInfo]:
    """An anonymize option as a service setting: same type, default and description (lists as ``a,b`` text)."""
    annotation: Any = info.annotation
    if typing.get_origin(annotation) is tuple:
        annotation = Annotated[annotation, NoDecode]
    return annotation, copy.copy(info)


_AnonymizeSettings: type[BaseSettings] = create_model(  # type: ignore[call-overload]
    "_AnonymizeSettings",
    __base__=BaseSettings,
    **{name: _option_field(info) for name, info in anonymize_option_fields()},
)
"""Every option of veil.anonymize as a ``VEIL_*`` setting, derived from the options' own fields."""


class ServiceSettings(_AnonymizeSettings):
    """Settings of ``veil serve``; each field ``name`` is also the variable ``VEIL_NAME``.

    Besides the service's own, every option of ``veil anonymize`` is a setting
    (``VEIL_STYLE``, ``VEIL_CRF``, ``VEIL_DETECT_EVERY``, ...), with its default.
    """

    model_config = SettingsConfigDict(env_prefix="VEIL_", extra="ignore", validate_default=True, populate_by_name=True)

    data_dir: Path = Field(
        Path("veil-data"), description="local buckets (one folder each), job database, generated secrets"
    )
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=_aliases("workers", "MAX_WORKERS"),
        description="videos processed at the same time; unset: one per core",
    )
    source_bucket: str = Field("source", min_length=1, description="bucket watched for new videos")
    output_bucket: str = Field(
        "output",
        min_length=1,
        validation_alias=_aliases("output_bucket", "OUTPUT_BUCKET"),
        description="bucket the anonymized videos and detections are written to",
    )
    s3_endpoint: str | None = Field(None, description="S3-compatible endpoint URL; unset: local folders in data_dir")
    s3_region: str | None = Field(None, description="region of the S3 endpoint")
    api_token: str | None = Field(
        None, min_length=16, repr=False, description="bearer token of the REST API and /events/s3"
    )
    access_key_id: str | None = Field(None, min_length=4, description="access key id Signature V4 requests must use")
    secret_access_key: str | None = Field(
        None, min_length=16, repr=False, description="secret key Signature V4 requests must be signed with"
    )
    database_url: str | None = Field(
        None,
        description="job store URL: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB (replicas); "
        "default sqlite:///DATA_DIR/veil.db",
    )
    scratch_dir: Path | None = Field(
        None,
        description="where jobs stage the source and partial outputs (un-anonymized: keep it private); "
        "default DATA_DIR/scratch",
    )
    suffixes: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_SUFFIXES, description="keys that start a job (case-insensitive)"
    )
    poll_seconds: float = Field(2.0, gt=0, description="how often the source bucket is listed")
    lease_seconds: float = Field(30.0, gt=0, description="a job whose worker is silent this long is taken over")
    max_attempts: int = Field(3, ge=1, description="attempts before a job ends FAILED")
    log_format: Literal["text", "json"] = Field("text", description="log lines as text, or JSON objects with a job_id")
    stop_grace_seconds: float = Field(
        8.0,
        ge=0,
        description="on SIGTERM, running jobs get this long to finish or be handed back to the queue; "
        "keep it under the container's stop timeout (docker: 10 s)",
    )
    write_frames: bool = Field(False, description="also write per-frame PNGs (<name>/images/, <name>/mosaic/)")
    engine: Literal["local", "ray"] = Field(
        "local", description="where each job's segments run: local (the service's machine) or ray (a Ray cluster)"
    )
    ray_address: str | None = Field(
        None, description="ray engine: auto, ray://HOST:PORT or HOST:PORT; unset: a local Ray instance"
    )
    scratch_bucket: str = Field(
        "veil-scratch",
        min_length=1,
        description="ray engine: bucket segment files are staged in (every node must reach the store)",
    )
    face_min_confidence: float | None = _legacy_percent("FACE_MIN_CONFIDENCE", "face_threshold")
    license_plate_min_confidence: float | None = _legacy_percent("LICENSE_PLATE_MIN_CONFIDENCE", "plate_threshold")

    @field_validator("suffixes", mode="before")
    @classmethod
    def _normalise_suffixes(cls, value: object) -> object:
        value = _split(value)
        if isinstance(value, (list, tuple)):
            value = tuple("." + str(s).lower().lstrip(".") for s in value)
            if not value:
                raise ValueError("at least one suffix is needed")
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _split_classes(cls, value: object) -> object:
        return _split(value)

    @model_validator(mode="after")
    def _apply_legacy_and_defaults(self) -> ServiceSettings:
        if self.source_bucket == self.output_bucket:
            raise ValueError("VEIL_SOURCE_BUCKET and VEIL_OUTPUT_BUCKET must differ (outputs would start new jobs)")
        if self.scratch_bucket in (self.source_bucket, self.output_bucket):
            raise ValueError(
                "VEIL_SCRATCH_BUCKET must differ from the source and output buckets "
                "(parts would start jobs or be published)"
            )
        given = self.model_fields_set  # veil's own names win over the legacy ones
        if "face_threshold" not in given and self.face_min_confidence is not None:
            self.face_threshold = self.face_min_confidence / 100
        if "plate_threshold" not in given and self.license_plate_min_confidence is not None:
            self.plate_threshold = self.license_plate_min_confidence / 100
        if self.scratch_dir is None:
            self.scratch_dir = self.data_dir / "scratch"
        if self.s3_endpoint is None and self.scratch_dir.resolve() in {
            (self.data_dir / bucket).resolve() for bucket in (self.source_bucket, self.output_bucket)
        }:
            raise ValueError("VEIL_SCRATCH_DIR is the folder of a local bucket; set VEIL_SCRATCH_DIR elsewhere")
        _, problems = AnonymizeOptions.validate_flat(**self._option_values())
        if problems:
            raise ValueError("; ".join(f"VEIL_{name.upper()}: {message}" for name, message in problems))
        return self

    def _option_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, _ in anonymize_option_fields()}

    @property
    def job_store_url(self) -> str:
        """``database_url``, or the SQLite file in ``data_dir`` when it is unset.

        The review tables (users, sessions, corrections, the audit log) live there too, so replicas share reviews.
        """
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'veil.db'}"

    def matches(self, key: str) -> bool:
        """Whether an object key starts a job: it ends with one of the suffixes, any case."""
        return key.lower().endswith(self.suffixes)

    def anonymize_options(self) -> AnonymizeOptions:
        """The ``veil.anonymize`` options every job of this service runs with.

        On the local engine the cores are shared among the workers and their
        segment processes, so that N jobs at once do not each start a model on
        every core. On Ray, each segment's models use the CPUs of its task.
        """
        chosen = self._option_values()
        if self.engine == "local" and chosen["threads"] is None:
            chosen["threads"] = threads_per_task(chosen["jobs"] or 1, sharing=self.workers)
        return AnonymizeOptions.build(**chosen)


def load_settings(**overrides: object) -> ServiceSettings:
    """Settings from the environment, ``overrides`` (flags) winning; problems as one ConfigError."""
    try:
        given: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
        return ServiceSettings(**given)
    except ValidationError as error:
        raise ConfigError(f"invalid settings: {'; '.join(map(_problem, error.errors()))}") from None


def _problem(issue: Any) -> str:
    """One validation problem, named as the user sets it: ``VEIL_PORT: ...``."""
    message = str(issue["msg"]).removeprefix("Value error, ")
    if not issue["loc"]:
        return message
    name = str(issue["loc"][0])
    return f"{name if name.isupper() else 'VEIL_' + name.upper()}: {message}"
