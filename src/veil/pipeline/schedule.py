"""When to run the detectors: every few frames, and at once when the picture changes.

Detection is most of the cost of a run, and neighbouring frames of a video
mostly show the same things in nearly the same places. So the detectors look at
every ``detect_every``-th frame, and temporal fusion covers the frames between with
boxes interpolated between sightings (see veil.track.fusion). Two rules keep
that safe:

* a **cut** (a frame unlike the one before it) is looked at, and fusion never
  carries a track across it, so a face that appears right after a cut is
  covered from its first frame and no stale box spills over the cut;
* a frame that has drifted far from the **last frame looked at** (a fast pan,
  a big object entering) is looked at too.

Not every look costs the same. Every ``close_every``-th frame, each cut and the
first frame get a **close** look: every detector's ``detect``. The other looks
**glance** with the detectors that can (veil.detect.Glancer): plates at one scale
of two, about a third of the cost at 720p. A glance keeps the tracks of all but
the smallest objects fresh; the smallest are seen at the close looks, and fusion
bridges the frames between (the pipeline widens its reach by ``close_every``).
A look for a change of picture is for the faces a pan or a passer-by brings in:
the detectors that glance (plates, which ride on vehicles that fusion follows
between the regular looks) skip it, and the others look as usual.

Both compare small grey thumbnails, which costs about a millisecond a frame.
The decision depends only on the frame index, the frame and the frames just
before it, so a segment that starts a few dozen frames early (its margin)
makes the same decisions as a single pass from its first common look on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

THUMBNAIL_SIZE = (32, 18)
"""Width, height of the thumbnails compared: enough to see a change of scene, not noise."""


@dataclass(frozen=True)
class Look:
    """Whether to detect on a frame, and whether it starts a new shot."""

    detect: bool
    cut: bool
    close: bool = True
    """Look closely (full resolution, every scale) rather than glance; meaningful when ``detect``."""
    regular: bool = True
    """A look on the ``detect_every`` cadence, a cut or a close look, not only for a change of picture:
    the detectors that glance skip the others."""


DEFAULT_DETECT_EVERY = 8
"""Chosen with benchmarks/speed.py and benchmarks/recall.py (benchmarks/RESULTS.md): on a
1080p clip of 1 s shots, 4 gave 0.32x the floor's fps, 8 about 0.5x; black-box face
recall on the dev set stays at or above deface's for every size from 16 px, since
every cut is looked at."""

DEFAULT_CLOSE_EVERY = 16
"""benchmarks/real.py --skip-deface on the five real clips, one run each (2026-12-03, 2 cores): with
plates glancing at 640 px between close looks every 16th frame, veil/floor rose from 0.17-0.23 to
0.21-0.31 (720p: 0.17 -> 0.23 Paris, 0.21 -> 0.31 toll) while face recall stayed the same to the
box-frame and plate recall moved from 0.910 to 0.881 (parking, small plates seen from above) and
0.918 to 0.912 (toll). Faces glancing at half resolution too was faster still (Paris 0.28), but
lost faces under 16 px (Paris sure faces 0.958 -> 0.874), so the face detector does not glance."""


class ScheduleSettings(BaseModel):
    """Which frames the detectors look at; thresholds are mean grey-level differences of thumbnails (0-255)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detect_every: int = Field(
        default=DEFAULT_DETECT_EVERY,
        ge=1,
        description="run the detectors on every Nth frame, and on every cut or big change of picture; "
        "the frames between are covered by tracking. 1 looks at every frame (slowest)",
    )
    cut_threshold: float = Field(
        default=16.0,
        gt=0,
        json_schema_extra={"internal": True},
        description="a frame this different from the one before starts a new shot (a cut)",
    )
    """On the 1080p benchmark clip (benchmarks/speed.py --make-clip) the 19 changes of
    image differ by 24.6 to 53, frames within a shot (slow zoom and pan) by at most 5.9."""
    close_every: int = Field(
        default=DEFAULT_CLOSE_EVERY,
        ge=1,
        description="look closely (plates at every scale) at every Nth frame and every cut; the other regular "
        "looks glance (plates at one scale, about a third of the cost), and plates skip the looks a change of "
        "picture triggers. Faces are always looked at closely. 1 makes every look close",
    )
    change_threshold: float = Field(
        default=10.0,
        gt=0,
        json_schema_extra={"internal": True},
        description="a frame this different from the last frame looked at is looked at too",
    )


class LookSchedule:
    """Decides, frame by frame in order, which frames the detectors see."""

    def __init__(self, settings: ScheduleSettings | None = None) -> None:
        self.settings = settings or ScheduleSettings()
        self._previous: np.ndarray | None = None
        self._last_looked: np.ndarray | None = None

    def decide(self, index: int, image: np.ndarray) -> Look:
        """The decision for frame ``index`` (absolute, counted from 0 over the video)."""
        thumbnail = thumbnail_of(image)
        first = self._previous is None
        cut = self._previous is not None and _difference(thumbnail, self._previous) > self.settings.cut_threshold
        drifted = (
            self._last_looked is not None and _difference(thumbnail, self._last_looked) > self.settings.change_threshold
        )
        close = first or cut or index % self.settings.close_every == 0
        regular = close or index % self.settings.detect_every == 0
        detect = regular or drifted
        self._previous = thumbnail
        if detect:
            self._last_looked = thumbnail
        return Look(detect=detect, cut=cut, close=close, regular=regular)


def thumbnail_of(image: np.ndarray) -> np.ndarray:
    """A grey THUMBNAIL_SIZE picture of ``image``."""
    return grey_thumbnail(image, THUMBNAIL_SIZE)


def grey_thumbnail(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A grey float32 ``size`` (width, height) picture of ``image`` (RGB, or already grey): every few
    pixels, then averaged down."""
    height, width = image.shape[:2]
    step = max(1, min(height // (4 * size[1]), width // (4 * size[0])))
    # Nearest-neighbour resizing by a whole factor picks every step-th pixel, like image[::step, ::step],
    # without the strided copy, which took most of the time (2 ms of a 720p frame).
    sampled = cv2.resize(image, (-(-width // step), -(-height // step)), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(sampled, size, interpolation=cv2.INTER_AREA)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32)


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))
