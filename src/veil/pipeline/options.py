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

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from veil.detect.settings import DetectorSettings
from veil.errors import ConfigError
from veil.media.encode import EncoderSettings
from veil.pipeline.schedule import ScheduleSettings
from veil.redact.settings import RedactSettings
from veil.track import FusionSettings

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class OutputSettings(BaseModel):
    """What a run writes besides the video (each command names these paths its own way)."""

    model_config = _FROZEN

    detections_path: Path | None = Field(None, description="also write every detection as job-API JSON here")
    frames_dir: Path | None = Field(
        None, description="also write DIR/images/NNNNNN.png (original) and DIR/mosaic/NNNNNN.png (covered)"
    )


class ParallelSettings(BaseModel):
    """How one video is spread over workers (veil.parallel plans and runs it)."""

    model_config = _FROZEN

    jobs: int | None = Field(
        None,
        ge=1,
        description="segments processed at once; unset: 1 on the local engine, the cluster's CPUs on Ray. "
        "Above 1, videos of 20 s or more are split at keyframes into JOBS segments (at least 10 s each), "
        "anonymized in parallel and joined without re-encoding",
    )
    segment_seconds: float | None = Field(
        None,
        gt=0,
        description="split videos at keyframes into segments of about this many seconds (even with --jobs 1); "
        "the output is the one a single pass makes. Unset: a single pass",
    )


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

    def widened_fusion(self) -> FusionSettings:
        """Fusion's reach, widened by the frames between looks: with a look at every k-th frame,
        an object first seen at a look may have been there k - 1 frames. An object only close
        looks find (a small plate) is seen at most every c-th frame (``close_every``): its lead
        and trail grow to c - 1 (fusion's ``close_only_reach``), which also bridges gaps wider
        than ``max_gap``. Gaps themselves are not widened further: in a crowd a longer gap
        lets one face's track take up its neighbour (measured on the real Paris clip)."""
        between = self.schedule.detect_every - 1
        fusion = self.fusion
        widened = {
            "max_gap": fusion.max_gap + between,
            "lead": fusion.lead + between,
            "trail": fusion.trail + between,
            "close_only_reach": max(0, self.schedule.close_every - self.schedule.detect_every),
        }
        return fusion.model_copy(update=widened)


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


_GROUP_OF = {name: group for group, model in GROUPS.items() for name in model.model_fields}


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    return [
        (str(issue["loc"][0]) if issue["loc"] else "options", str(issue["msg"]).removeprefix("Value error, "))
        for issue in error.errors()
    ]
