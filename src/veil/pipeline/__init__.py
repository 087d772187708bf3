"""One segment of a video end to end: decode -> detect -> fuse -> redact -> encode.

A single pass is the segment that covers the whole video.
"""

from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report

__all__ = ["AnonymizeOptions", "Report"]
