"""veil.records: the detections of a frame and their JSON forms (the job API's shapes).

A leaf: it imports no model runtime and no media library, so anything that reads
or writes detections (the service, the job store, a review tool) stays light.
"""

from veil.records.detections import CLASSES, FACE, PLATE, Detections, check_class_names
from veil.records.documents import (
    PLATE_LABEL,
    DetectionLog,
    ProbedVideo,
    VideoMetadata,
    as_recorded,
    bounding_box,
    box_of,
    frame_records,
    label_of,
    merge_documents,
    pixels_of,
)

__all__ = [
    "CLASSES",
    "FACE",
    "PLATE",
    "PLATE_LABEL",
    "DetectionLog",
    "Detections",
    "ProbedVideo",
    "VideoMetadata",
    "as_recorded",
    "bounding_box",
    "box_of",
    "check_class_names",
    "frame_records",
    "label_of",
    "merge_documents",
    "pixels_of",
]
