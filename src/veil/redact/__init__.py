"""Covering regions: mosaic, blur or solid, as a box or an ellipse."""

from veil.redact.settings import RedactSettings, Shape, Style
from veil.redact.styles import STYLES, Blur, Mosaic, Redactor, Solid, expand_boxes, make_redactor

__all__ = [
    "STYLES",
    "Blur",
    "Mosaic",
    "RedactSettings",
    "Redactor",
    "Shape",
    "Solid",
    "Style",
    "expand_boxes",
    "make_redactor",
]
