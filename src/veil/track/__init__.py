"""Fusing detections over time: association, gap filling, lead and trail; when to look."""

from veil.track.fusion import FusionSettings, TemporalFusion
from veil.track.schedule import Look, LookSchedule, ScheduleSettings

__all__ = ["FusionSettings", "Look", "LookSchedule", "ScheduleSettings", "TemporalFusion"]
