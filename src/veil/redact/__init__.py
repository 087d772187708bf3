"""Covering regions: mosaic, blur or solid, as a box or an ellipse."""

from veil.redact.styles import STYLES, Blur, Mosaic, Redactor, Shape, Solid, expand_boxes, make_redactor

__all__ = ["STYLES", "Blur", "Mosaic", "Redactor", "Shape", "Solid", "expand_boxes", "make_redactor"]
