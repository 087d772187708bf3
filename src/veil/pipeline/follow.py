"""Follow a box a reviewer drew on one frame forward and backward through the shot.

Template matching (OpenCV, normalised cross-correlation) from frame to frame, in
a window around the last position, on a grey copy of the displayed picture at
most :data:`WORK_WIDTH` wide. The box keeps its size; following stops where the
match drops below :data:`MIN_SCORE` (the object left, was hidden, or the shot
cut), so the region covers the frames where the object can be followed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from veil.media import VideoReader
from veil.media.orientation import to_display
from veil.records.review import Box

WORK_WIDTH = 640
MIN_SCORE = 0.5
MAX_FRAMES = 1500
"""Frames followed at most (a minute at 25 fps): the frames are held in memory, grey and small."""


def _grey_frames(source: Path, start: int, end: int) -> dict[int, np.ndarray]:
    frames = {}
    with VideoReader(source) as reader:
        for frame in reader:
            if frame.index > end:
                break
            if frame.index >= start:
                image = cv2.cvtColor(to_display(frame.image, reader.info.rotation), cv2.COLOR_RGB2GRAY)
                scale = min(1.0, WORK_WIDTH / image.shape[1])
                frames[frame.index] = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return frames


def _pixels(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    x1, y1 = round(box[0] * width), round(box[1] * height)
    x2, y2 = max(x1 + 4, round(box[2] * width)), max(y1 + 4, round(box[3] * height))
    return x1, y1, min(x2, width), min(y2, height)


def _step(
    previous: np.ndarray, current: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[int, int, int, int] | None:
    """The box moved to where ``current`` best matches its content in ``previous``; None if it was lost."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1
    template = previous[y1:y2, x1:x2]
    sx1, sy1 = max(0, x1 - width), max(0, y1 - height)
    sx2, sy2 = min(current.shape[1], x2 + width), min(current.shape[0], y2 + height)
    window = current[sy1:sy2, sx1:sx2]
    if template.size == 0 or window.shape[0] < height or window.shape[1] < width or template.std() < 1e-3:
        return None
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (left, top) = cv2.minMaxLoc(scores)
    if best < MIN_SCORE:
        return None
    return sx1 + left, sy1 + top, sx1 + left + width, sy1 + top + height


def follow_box(source: str | Path, anchor: int, box: Box, start: int, end: int) -> dict[int, Box]:
    """Where ``box`` (drawn on frame ``anchor``) goes on frames ``start``..``end``, as far as it can be followed."""
    start, end = max(0, start), min(end, start + MAX_FRAMES - 1)
    frames = _grey_frames(Path(source), start, end)
    if anchor not in frames:
        raise ValueError(f"frame {anchor} is not between {start} and {end}")
    shape = frames[anchor].shape
    height, width = shape[:2]
    found = {anchor: _pixels(box, shape)}
    for direction in (1, -1):
        current, position = anchor, found[anchor]
        while (current + direction) in frames:
            moved = _step(frames[current], frames[current + direction], position)
            if moved is None:
                break
            current, position = current + direction, moved
            found[current] = position
    return {
        frame: (x1 / width, y1 / height, x2 / width, y2 / height) for frame, (x1, y1, x2, y2) in sorted(found.items())
    }
