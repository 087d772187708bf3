"""Fusing detections over time: association, gap filling, lead and trail."""

from veil.track.fusion import FusionSettings, Shift, TemporalFusion, box_iou

__all__ = ["FusionSettings", "Shift", "TemporalFusion", "box_iou"]
