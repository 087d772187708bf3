"""Fusing detections over time: association, gap filling, lead and trail."""

from veil.track.fusion import FusionSettings, Shift, TemporalFusion

__all__ = ["FusionSettings", "Shift", "TemporalFusion"]
