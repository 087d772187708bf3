"""How covered regions look and how far they reach beyond the detected box."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Style = Literal["mosaic", "blur", "solid"]
Shape = Literal["box", "ellipse"]


class RedactSettings(BaseModel):
    """The covering of a run: style and shape, and how much each box grows first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    style: Style = Field(default="mosaic", description="how to cover: mosaic (pixelate), blur, or solid (black)")
    shape: Shape = Field(default="box", description="cover the whole box or the ellipse inside it")
    face_padding: float = Field(
        default=0.2, ge=0, le=2, description="grow face boxes by this fraction of their size on each side (hair, ears)"
    )
    plate_padding: float = Field(
        default=0.1, ge=0, le=2, description="grow plate boxes by this fraction of their size on each side"
    )
    min_box_size: int = Field(
        default=12, ge=0, description="grow every covered region to at least this many pixels a side"
    )
