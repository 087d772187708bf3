"""Where a video gets split across workers: cut at keyframes into segments anonymized apart and joined.

Each :class:`Segment` owns the frames ``start`` to ``end`` (the ones it writes)
and decodes and detects a margin around them (``first`` to ``stop``) so that
temporal fusion at its seams sees what a single pass would have seen:

* **after** the segment: ``horizon = max(lead, max_gap + 1)`` frames. The cover
  of frame f depends only on sightings up to f + horizon (a track's next
  sighting after f is at most ``max_gap + 1`` frames away, or it is another
  track; coverage starts ``lead`` frames before a first sighting), and
  association is causal (a frame's detections join tracks by looking back
  only). So this margin is exact.
* **before** the segment: ``max(trail, max_gap + 1) + 2 * (max_gap + 1)``
  frames. The cover of frame f depends on how the sightings from
  f - max(trail, max_gap + 1) onwards were grouped into tracks. A segment starts
  fusion with no tracks; every track a single pass had alive at ``first`` has
  stopped taking sightings ``max_gap + 1`` frames later, and after another
  ``max_gap + 1`` frames every live track has been started inside the margin
  and has the same last two sightings (its velocity) as in the single pass. From
  there on the two runs group the same sightings the same way, given that the
  greedy match in the margin did not hinge on the missing older tracks (the
  tests check a scene built to cross seams with gaps, misses and two objects).
  With a close look at every k-th frame, the segment's first frames may be looked
  at differently (veil.pipeline.schedule decides from the frames before, and a
  segment's first frame is a close look); from the first frame numbered a
  multiple of k, at most k - 1 frames in, both runs look at the same frames the
  same way, so the margin before grows by k - 1.
* the camera's shifts (veil.pipeline.motion) need no margin of their own: a
  frame's shift is measured against the frame before, which a segment decodes
  for every frame but its ``first``, and fusion carries a box only over the
  shifts of frames after a sighting, all inside the margins above.

Seams fall on keyframes only, so every segment decodes from a keyframe at or
before its ``first`` frame and encodes a closed piece starting with its own
keyframe; the parts join by stream copy.
"""

from __future__ import annotations

import bisect
from fractions import Fraction

from veil.media import PacketIndex, VideoInfo, index_packets
from veil.pipeline import AnonymizeOptions
from veil.pipeline.segment import Segment
from veil.track import FusionSettings

MIN_SEGMENT_SECONDS = 10.0
"""With ``jobs`` and no segment length, segments are ``duration / jobs`` long, but not shorter than this."""


def plan(info: VideoInfo, options: AnonymizeOptions, remote: bool = False) -> list[Segment]:
    """The segments to process: the whole video as one, unless it is worth splitting.

    A video is split with ``segment_seconds``, or with ``jobs`` above 1 when it is
    at least two minimum segments long. For a ``remote`` engine even a video too
    short to split is planned as keyframe segments: the work goes to the engine,
    and this process only plans and joins.
    """
    seconds = options.parallel.segment_seconds
    jobs = options.parallel.jobs
    if seconds is None:
        duration = info.duration_s or 0.0
        if not remote and (jobs == 1 or duration < 2 * MIN_SEGMENT_SECONDS):
            return [Segment.whole()]
        seconds = max(MIN_SEGMENT_SECONDS, duration / (jobs or 1))
    index = index_packets(info.path)
    if index.pts is None:
        return [Segment.whole()]  # frames without pts cannot be addressed for seeking: one pass
    segments = plan_segments(index, info.time_base, seconds, options.widened_fusion(), options.schedule.close_every)
    return segments if len(segments) > (0 if remote else 1) else [Segment.whole()]


def margins(settings: FusionSettings, close_every: int = 1) -> tuple[int, int]:
    """Frames decoded and detected (not written) before and after each segment; see the module's notes."""
    reach_back = max(settings.longest_trail, settings.max_gap + 1)
    return close_every - 1 + reach_back + 2 * (settings.max_gap + 1), settings.horizon


def plan_segments(
    index: PacketIndex, time_base: Fraction, seconds: float, fusion: FusionSettings, close_every: int = 1
) -> list[Segment]:
    """Cut at the first keyframe at least ``seconds`` after the previous cut; one segment if none is."""
    pts = index.pts
    if pts is None:
        raise ValueError("cannot plan segments without every frame's pts")
    if not pts:
        return []
    keyframes = list(index.keyframes)
    if not keyframes or keyframes[0] != 0:
        # A first frame that is not a keyframe cannot start a segment; one pass it is.
        keyframes = [0]
    step = Fraction(seconds) / time_base
    cuts = [0]
    for key in keyframes[1:]:
        if pts[key] - pts[cuts[-1]] >= step:
            cuts.append(key)
    bounds = list(zip(cuts, [*cuts[1:], len(pts)], strict=False))
    before, after = margins(fusion, close_every)
    segments = []
    for number, (start, end) in enumerate(bounds):
        first, stop = max(0, start - before), min(len(pts), end + after)
        seek = keyframes[bisect.bisect_right(keyframes, first) - 1]
        segments.append(Segment(number, start, end, first, stop, pts[seek], pts[first:stop]))
    return segments
