"""Fusing detections over time: association, gap filling, lead and trail."""

from veil.track.fusion import FusionSettings, TemporalFusion

__all__ = ["FusionSettings", "TemporalFusion"]
