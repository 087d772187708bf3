"""One video end to end: decode -> detect -> fuse -> redact -> encode."""

from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report
from veil.pipeline.api import anonymize

__all__ = ["AnonymizeOptions", "Report", "anonymize"]
