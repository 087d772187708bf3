"""The detection record and its JSON forms (the job API's shapes)."""

from veil.results.records import PLATE_LABEL, DetectionLog, VideoMetadata, bounding_box, frame_records, merge_documents

__all__ = ["PLATE_LABEL", "DetectionLog", "VideoMetadata", "bounding_box", "frame_records", "merge_documents"]
