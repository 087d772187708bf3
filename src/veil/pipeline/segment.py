"""A segment: the frames one run writes, and the frames it decodes around them.

A single pass is the segment that covers the whole video; a video split across
workers (``veil.parallel``) is several segments with margins. One run type
(:class:`veil.pipeline.run.VideoRun`) serves both.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACK_IDS_PER_SEGMENT = 1_000_000
"""Segment k numbers its tracks from k * this in the detections JSON."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start``..``end`` (written) of a video, decoded from ``first`` to ``stop`` (with margins).

    ``seek_pts`` is the pts of the keyframe decoding starts from (at or before
    frame ``first``); ``pts`` the pts of frames ``first``..``stop`` in order.
    Frame numbers count from 0 over the whole video, in presentation order.
    The :meth:`whole` video has no ``end`` or ``pts``: it is decoded from the
    start to the last frame, however many there are.
    """

    number: int
    start: int
    end: int | None
    first: int
    stop: int | None
    seek_pts: int | None
    pts: tuple[int, ...] | None

    @classmethod
    def whole(cls) -> Segment:
        """The segment of a single pass: every frame, decoded in order without seeking."""
        return cls(number=0, start=0, end=None, first=0, stop=None, seek_pts=None, pts=None)

    def __post_init__(self) -> None:
        if self.pts is None:
            return
        if self.end is None or self.stop is None or not 0 <= self.first <= self.start < self.end <= self.stop:
            raise ValueError(
                f"segment {self.number}: need 0 <= first <= start < end <= stop,"
                f" got {self.first}, {self.start}, {self.end}, {self.stop}"
            )
        if len(self.pts) != self.stop - self.first:
            raise ValueError(f"segment {self.number}: {len(self.pts)} pts for {self.stop - self.first} frames")

    @property
    def is_whole(self) -> bool:
        """Whether this is the whole video, decoded from its start without seeking."""
        return self.pts is None

    @property
    def frames(self) -> int | None:
        """How many frames the segment writes (None: all the video has)."""
        return None if self.end is None else self.end - self.start

    @property
    def track_id_base(self) -> int:
        """Track ids restart in every segment; this keeps them distinct across one document."""
        return self.number * TRACK_IDS_PER_SEGMENT

    def writes(self, index: int) -> bool:
        """Whether frame ``index`` is this segment's to write (not a margin)."""
        return self.start <= index and (self.end is None or index < self.end)
