"""The cuts of a video (frames unlike the one before), as the look schedule sees them: for doubtful moments.

A detection run decides cuts frame by frame and does not keep them; a review asks for them afterwards, so this
decodes the video once more (no detection) and asks the same :class:`~veil.pipeline.schedule.LookSchedule`.
"""

from __future__ import annotations

from pathlib import Path

from veil.media import VideoReader
from veil.pipeline.schedule import LookSchedule, ScheduleSettings


def find_cuts(source: str | Path, settings: ScheduleSettings | None = None) -> list[int]:
    """The indices of the frames that start a new shot (the first frame is not a cut)."""
    schedule = LookSchedule(settings)
    with VideoReader(source) as reader:
        return [frame.index for frame in reader if schedule.decide(frame.index, frame.grey()).cut]
