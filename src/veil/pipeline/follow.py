"""Follow a box a reviewer drew on one frame forward and backward through the shot.

From frame to frame, template matching (OpenCV, normalised cross-correlation,
on a grey copy of the displayed picture at most :data:`WORK_WIDTH` wide)
proposes where the box went. Then the detectors look at a crop around the
proposal, at the displayed frame's full resolution (the box grown by its own
size on each side): a detection that overlaps the box (IoU at least
:data:`MATCH_IOU`, or its centre inside) sets the box's place and size, with
the margin the reviewer drew around the object kept; otherwise the template's
proposal is kept, at the box's size. The first detection that matches fixes the
class followed (a face stays a face) and the margin: the drawn box in units of
that detection. Each step says how it was placed: ``drawn``, ``detected`` or
``tracked``.

Following stops where neither template nor detectors find the object, and at a
cut as :class:`~veil.pipeline.schedule.LookSchedule` sees it (veil's own rule),
so a followed box never crosses a shot change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from veil.detect import POOL, DetectorSettings
from veil.media import VideoReader
from veil.media.orientation import to_display
from veil.pipeline.schedule import LookSchedule, ScheduleSettings
from veil.records import Detections
from veil.records.review import Box, Placement
from veil.track import box_iou

if TYPE_CHECKING:
    from veil.detect import Detector

WORK_WIDTH = 640
MIN_SCORE = 0.5
"""Template matches below this normalised correlation are not the object any more."""
MATCH_IOU = 0.3
MAX_RESIZE = 1.5
"""A detection that would make the box this many times wider or taller (or narrower) in one frame is another object."""
MAX_FRAMES = 1500
"""Frames followed at most (a minute at 25 fps)."""
MAX_HELD_BYTES = 1 << 30
"""Full-resolution frames held to follow backward (the drawn frame's shot before it): about 170 frames at 1080p.
Older frames of the shot keep only their grey copy, and the box is moved there by template matching alone."""

PixelBox = tuple[float, float, float, float]
"""x1, y1, x2, y2 in pixels of the displayed frame."""


@dataclass
class _Frame:
    grey: np.ndarray  # the work copy
    image: np.ndarray | None  # RGB, displayed orientation, full resolution; None once dropped to bound memory


@dataclass(frozen=True)
class FollowedPath(Mapping[int, Box]):
    """The box on each frame it was followed to (fractions of the displayed frame), by frame, and how it got there."""

    boxes: dict[int, Box]
    placed: dict[int, Placement]

    @classmethod
    def of(cls, steps: Mapping[int, tuple[PixelBox, Placement]], width: int, height: int) -> FollowedPath:
        frames = sorted(steps)
        boxes = {f: _fractions(steps[f][0], width, height) for f in frames}
        return cls(boxes, {f: steps[f][1] for f in frames})

    def __getitem__(self, frame: int) -> Box:
        return self.boxes[frame]

    def __iter__(self) -> Iterator[int]:
        return iter(self.boxes)

    def __len__(self) -> int:
        return len(self.boxes)


def follow_box(
    source: str | Path,
    anchor: int,
    box: Box,
    start: int,
    end: int,
    *,
    detectors: Sequence[Detector] | None = None,
    schedule: ScheduleSettings | None = None,
) -> FollowedPath:
    """Where ``box`` (drawn on frame ``anchor``) goes on frames ``start``..``end``, as far as it can be followed.

    ``detectors`` refine the template's proposals (default: this process's face and plate detectors; none: template
    matching alone); ``schedule`` holds the cut threshold (default: veil's).
    """
    start, end = max(0, start), min(end, start + MAX_FRAMES - 1)
    if not start <= anchor <= end:
        raise ValueError(f"frame {anchor} is not between {start} and {end}")
    chosen = POOL.detectors(DetectorSettings()) if detectors is None else detectors
    with VideoReader(source) as reader:
        frames = _frames(reader, start, end, schedule)
        held = _shot_until(frames, anchor)
        drawn = held[-1][1]
        assert drawn.image is not None  # the newest held frame keeps its picture
        height, width = drawn.image.shape[:2]
        first = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
        follower = _Follower(chosen, (width, height))
        follower.learn_margin(drawn, first)
        steps: dict[int, tuple[PixelBox, Placement]] = {anchor: (first, "drawn")}
        steps.update(follower.follow(reversed(held), first))
        held.clear()
        rest = ((index, frame) for index, frame, _ in itertools.takewhile(lambda item: not item[2], frames))
        steps.update(follower.follow(itertools.chain([(anchor, drawn)], rest), first))
    return FollowedPath.of(steps, width, height)


class _Follower:
    """Moves a box from one frame to the next: the template proposes, a detection near the proposal decides."""

    def __init__(self, detectors: Sequence[Detector], size: tuple[int, int]) -> None:
        self.detectors = list(detectors)
        self.size = size
        self.scale = min(1.0, WORK_WIDTH / size[0])  # work copy pixels per displayed pixel
        self.margin: PixelBox | None = None  # the followed box in units of the detection it surrounds

    def learn_margin(self, frame: _Frame, drawn: PixelBox) -> None:
        """Take the reviewer's margin from a detection matching the drawn box, if the drawn frame has one."""
        self._detected(frame, drawn)

    def follow(self, frames: Iterable[tuple[int, _Frame]], box: PixelBox) -> dict[int, tuple[PixelBox, Placement]]:
        """The box on each of ``frames`` after the first (where it is ``box``), until the object is lost."""
        steps: dict[int, tuple[PixelBox, Placement]] = {}
        ordered = iter(frames)
        _, previous = next(ordered)
        for index, current in ordered:
            moved = self._step(previous, current, box)
            if moved is None:
                break
            steps[index] = moved
            box, previous = moved[0], current
        return steps

    def _step(self, previous: _Frame, current: _Frame, box: PixelBox) -> tuple[PixelBox, Placement] | None:
        proposal = _matched(previous.grey, current.grey, box, self.scale)
        if proposal is not None:
            proposal = _clipped(proposal, self.size)
        detected = self._detected(current, box if proposal is None else proposal)
        if detected is not None:
            return detected, "detected"
        return None if proposal is None else (proposal, "tracked")

    def _detected(self, frame: _Frame, box: PixelBox) -> PixelBox | None:
        """The box placed on a detection that matches ``box`` (the margin kept), or None."""
        if frame.image is None or not self.detectors:
            return None
        found = _detect_around(frame.image, box, self.detectors)
        best = _best_match(found.boxes, box)
        if best is None:
            return None
        x1, y1, x2, y2 = (float(v) for v in found.boxes[best])
        detection = (x1, y1, x2, y2)
        if self.margin is None:
            self.margin = _relative(box, detection)
            self.detectors = [d for d in self.detectors if d.class_name == found.classes[best]]
        placed = _clipped(_absolute(self.margin, detection), self.size)
        return placed if _similar_size(placed, box) else None


def _frames(
    reader: VideoReader, start: int, end: int, settings: ScheduleSettings | None
) -> Iterator[tuple[int, _Frame, bool]]:
    """Frames ``start``..``end``, each with whether it starts a new shot (decided on the stored picture, as
    :func:`~veil.pipeline.cuts.find_cuts` does)."""
    schedule = LookSchedule(settings)
    for frame in reader:
        if frame.index > end:
            return
        if frame.index >= start:
            cut = schedule.decide(frame.index, frame.grey()).cut
            image = to_display(frame.to_rgb(), reader.info.rotation)
            yield frame.index, _Frame(_work_copy(image), image), cut


def _work_copy(image: np.ndarray) -> np.ndarray:
    """Grey, at most WORK_WIDTH wide: what template matching compares."""
    scale = min(1.0, WORK_WIDTH / image.shape[1])
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _shot_until(frames: Iterator[tuple[int, _Frame, bool]], anchor: int) -> list[tuple[int, _Frame]]:
    """The frames of ``anchor``'s shot up to it; past :data:`MAX_HELD_BYTES`, the oldest lose their picture."""
    held: list[tuple[int, _Frame]] = []
    full = oldest = 0  # bytes of pictures held; the first held frame that still has its picture
    for index, frame, cut in frames:
        if cut:
            held, full, oldest = [], 0, 0
        held.append((index, frame))
        full += frame.image.nbytes if frame.image is not None else 0
        while full > MAX_HELD_BYTES and oldest < len(held) - 1:
            dropped = held[oldest][1]
            full -= dropped.image.nbytes if dropped.image is not None else 0
            dropped.image, oldest = None, oldest + 1
        if index == anchor:
            return held
    raise ValueError(f"frame {anchor} is not in the video")


def _matched(previous: np.ndarray, current: np.ndarray, box: PixelBox, scale: float) -> PixelBox | None:
    """``box`` moved to where ``current`` best matches its content in ``previous`` (grey work copies); None if lost."""
    height, width = previous.shape[:2]
    x1, y1 = min(round(box[0] * scale), width - 4), min(round(box[1] * scale), height - 4)
    x2, y2 = min(max(x1 + 4, round(box[2] * scale)), width), min(max(y1 + 4, round(box[3] * scale)), height)
    template = previous[y1:y2, x1:x2]
    sx1, sy1 = max(0, 2 * x1 - x2), max(0, 2 * y1 - y2)
    sx2, sy2 = min(width, 2 * x2 - x1), min(height, 2 * y2 - y1)
    window = current[sy1:sy2, sx1:sx2]
    if template.size == 0 or window.shape[0] < y2 - y1 or window.shape[1] < x2 - x1 or template.std() < 1e-3:
        return None
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (left, top) = cv2.minMaxLoc(scores)
    if best < MIN_SCORE:
        return None
    dx, dy = (sx1 + left - x1) / scale, (sy1 + top - y1) / scale
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def _detect_around(image: np.ndarray, box: PixelBox, detectors: Sequence[Detector]) -> Detections:
    """What ``detectors`` find in the crop around ``box`` (grown by its own size on each side), in frame pixels."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    left, top = max(0, math.floor(2 * x1 - x2)), max(0, math.floor(2 * y1 - y2))
    right, bottom = min(width, math.ceil(2 * x2 - x1)), min(height, math.ceil(2 * y2 - y1))
    if right - left < 2 or bottom - top < 2:
        return Detections.empty()
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    found = Detections.merge([detector.detect(crop) for detector in detectors])
    return Detections(found.boxes + np.array([left, top, left, top], np.float32), found.scores, found.classes)


def _best_match(boxes: np.ndarray, box: PixelBox) -> int | None:
    """The row of ``boxes`` that overlaps ``box`` most, among those with IoU >= MATCH_IOU or the centre inside."""
    if len(boxes) == 0:
        return None
    x1, y1, x2, y2 = box
    iou = box_iou(np.array(box, dtype=np.float64), boxes)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    inside = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
    candidates = np.flatnonzero((iou >= MATCH_IOU) | inside)
    return int(candidates[np.argmax(iou[candidates])]) if len(candidates) else None


def _relative(box: PixelBox, detection: PixelBox) -> PixelBox:
    """``box`` in units of ``detection``: (0, 0, 1, 1) is the detection itself."""
    left, top, width, height = detection[0], detection[1], detection[2] - detection[0], detection[3] - detection[1]
    return (box[0] - left) / width, (box[1] - top) / height, (box[2] - left) / width, (box[3] - top) / height


def _absolute(relative: PixelBox, detection: PixelBox) -> PixelBox:
    """The box that is ``relative`` in units of ``detection``, in pixels."""
    left, top, width, height = detection[0], detection[1], detection[2] - detection[0], detection[3] - detection[1]
    return (
        left + relative[0] * width,
        top + relative[1] * height,
        left + relative[2] * width,
        top + relative[3] * height,
    )


def _similar_size(box: PixelBox, before: PixelBox) -> bool:
    sides = ((box[2] - box[0], before[2] - before[0]), (box[3] - box[1], before[3] - before[1]))
    return all(0 < now <= MAX_RESIZE * was and was <= MAX_RESIZE * now for now, was in sides)


def _clipped(box: PixelBox, size: tuple[int, int]) -> PixelBox:
    width, height = size
    return (
        min(max(box[0], 0.0), width - 1.0),
        min(max(box[1], 0.0), height - 1.0),
        min(max(box[2], 1.0), float(width)),
        min(max(box[3], 1.0), float(height)),
    )


def _fractions(box: PixelBox, width: int, height: int) -> Box:
    return box[0] / width, box[1] / height, box[2] / width, box[3] / height
