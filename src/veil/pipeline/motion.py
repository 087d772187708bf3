"""How far the camera moved the picture since the frame before: one (dx, dy) per frame.

Between two looks (veil.pipeline.schedule) fusion covers an object on a box drawn
in a straight line between its sightings; a handheld camera that jerks between
looks moves the object off that line. :class:`CameraMotion` measures each frame's
global shift, which fusion uses to carry boxes along the camera's path
(veil.track.fusion).

The shift is found by phase correlation (``cv2.phaseCorrelate``) of small grey
copies of consecutive frames, :data:`WORK_SIDE` pixels on their longer side
(160x90 for 16:9) and weighted by a Hanning window, then scaled back to the
frame's pixels: about a millisecond a frame, like the schedule's thumbnails.
Its precision is about a pixel of the small copy, a few pixels of a 1080p frame,
which is fine for a cover that is padded anyway.

Phase correlation always names a peak; its ``response`` (0-1) says how sharp it
is. Below :data:`MIN_RESPONSE` the shift counts as 0 (unreliable): a cut, a
blank or flat picture, or a frame filled by something passing the lens.
"""

from __future__ import annotations

import cv2
import numpy as np

from veil.pipeline.schedule import grey_thumbnail
from veil.track import Shift

NO_SHIFT: Shift = (0.0, 0.0)

WORK_SIDE = 160
"""The longer side, in pixels, of the grey copies compared."""

MIN_RESPONSE = 0.3
"""The sharpness of the correlation peak below which a shift counts as 0.

Measured once on the pictures of ``veil.samples.calibration_photos`` at 640x360:
pairs of different pictures (also flipped; the sample scenes, which share a
background, not against each other) and pairs of random-noise frames peaked at
0.28 at most (95 % below 0.20), while each picture shifted by up to 60 px, with
motion blur, a change of brightness and sensor noise, gave 0.3 or more in 358 of
360 pairs (the other two 0.27 and 0.29), measured to within about 5 px (median
under 1 px). A false shift can only grow a cover (fusion unites it with the
straight-line box), a missed one only falls back to the straight line: the
threshold sits just above what unrelated pictures reach."""


class CameraMotion:
    """Measures, frame by frame in order, the shift of each frame relative to the one before.

    >>> motion = CameraMotion()
    >>> shifts = [motion.measure(frame) for frame in frames]  # doctest: +SKIP

    The first frame, and a frame whose correlation is too weak, get :data:`NO_SHIFT`.
    """

    def __init__(self, min_response: float = MIN_RESPONSE) -> None:
        self.min_response = min_response
        self._previous: np.ndarray | None = None
        self._window: np.ndarray | None = None

    def measure(self, image: np.ndarray) -> Shift:
        """The shift of ``image`` (RGB, H x W x 3, or grey, H x W) since the image measured before it."""
        height, width = image.shape[:2]
        scale = WORK_SIDE / max(height, width)
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        small = grey_thumbnail(image, size)
        previous, self._previous = self._previous, small
        if previous is None or previous.shape != small.shape:
            return NO_SHIFT
        if self._window is None or self._window.shape != small.shape:
            self._window = cv2.createHanningWindow(size, cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(previous, small, self._window)
        if not response >= self.min_response:  # also NaN
            return NO_SHIFT
        return float(dx) * width / size[0], float(dy) * height / size[1]
