"""Temporal fusion: turn per-frame detections into stable, gap-free coverage.

The detector misses objects now and then (motion blur, a turned head, a small
face). A miss in one frame is a leak in that frame, and coverage that blinks on
and off is both a leak and a distraction. Fusion fixes both, offline, with look-
ahead:

* detections of the same class are associated frame to frame into tracks
  (the best total fit of overlap with the box predicted from the track's motion;
  then, for what is left, centre distance, which grows with the frames since the
  last sighting, for small, fast objects whose boxes no longer overlap);
* an object seen at frames t1 and t2 (gap <= ``max_gap``) is covered in every
  frame between, on a box interpolated linearly between the two sightings;
* coverage starts ``lead`` frames before the first sighting and ends ``trail``
  frames after the last one, on the last box grown to where the track's
  motion is taking it;
* an object that only close looks see (the smallest: veil.pipeline.schedule) may
  have been there, unseen by the glances between, for longer: when its class's
  detector glances (``glancing``), its lead grows by ``close_only_reach`` when a
  close look saw it first, and its trail when no glance saw it in the
  ``close_only_reach`` frames up to its last sighting;
* a cut (a new shot) ends every track: nothing associates across it, and no
  coverage reaches over it (a box from the last shot would only hide picture);
* the camera moves the picture between sightings (a handheld camera jerks
  between looks): each frame may come with its global shift (veil.pipeline.motion),
  and every box fusion infers (between, before and after sightings) is the union
  of the box above and the sighting's box carried along the camera's path. A
  wrong shift can only grow a cover, never shrink it;
* every inferred box grows about its centre with the frames to the nearest
  sighting (``growth_per_frame``, up to ``max_growth``): the further from a
  sighting, the less sure its place.

Frames the detectors did not look at (veil.pipeline.schedule) are pushed as
``None``: they add no sighting and end no track; the pipeline widens
``max_gap``, ``lead`` and ``trail`` by the frames between looks.

A single sighting is never dropped (no "initialisation delay" as in trackers
that fight false positives): a missed face is worse than an extra mosaic.

Fusion is streaming: ``push`` the detections of frame i and get back the frames
whose coverage is final, which is every frame older than the look-ahead
``horizon``. Memory is bounded by the horizon, not by the video length.

The camera's path between two frames is the sum of the shifts of the frames
between, added up afresh for each box (never a running total): a segment fused
from its first frame with no history (veil.parallel) gets the same sums, to the
bit, as a single pass. The shift pushed with a segment's first frame, or with a
cut, is never part of a sum: no box is carried from before it.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from dataclasses import dataclass, field

import lap
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from veil.errors import VeilError
from veil.records import Detections

Shift = tuple[float, float]
"""(dx, dy): how far the camera moved the picture's content since the frame before, in the boxes' pixels
(right and down are positive)."""


class FusionSettings(BaseModel):
    """How far fusion reaches in time, in frames, and what counts as the same object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_gap: int = Field(
        default=10,
        ge=0,
        description="keep covering an object through detector misses of up to this many frames "
        "(plus the frames between looks)",
    )
    lead: int = Field(
        default=4,
        ge=0,
        description="start covering this many frames before an object is first detected "
        "(plus the frames between looks)",
    )
    trail: int = Field(
        default=6,
        ge=0,
        description="keep covering this many frames after an object is last detected (plus the frames between looks)",
    )
    close_only_reach: int = Field(
        default=0,
        ge=0,
        json_schema_extra={"internal": True},
        description="for a class whose detector glances: extra lead for an object a close look saw first, and "
        "extra trail for one no glance saw in this many frames up to its last sighting",
    )
    growth_per_frame: float = Field(
        default=0.03,
        ge=0,
        json_schema_extra={"internal": True},
        description="grow an inferred box by this share of its size per frame to the nearest sighting "
        "(a person walking between looks strays from the straight line between the two boxes)",
    )
    max_growth: float = Field(
        default=0.12,
        ge=0,
        json_schema_extra={"internal": True},
        description="the most an inferred box grows (reached 4 frames from a sighting at the default rate)",
    )
    min_iou: float = Field(
        default=0.2,
        ge=0,
        le=1,
        json_schema_extra={"internal": True},
        description="a detection continues a track when its box overlaps the track's predicted box by this much (IoU)",
    )
    max_centre_distance: float = Field(
        default=0.25,
        ge=0,
        json_schema_extra={"internal": True},
        description="or when its centre is this near, per frame since the track was last seen, "
        "in units of the larger side of the track's last box",
    )

    @property
    def horizon(self) -> int:
        """Frames of look-ahead needed before a frame's coverage is final."""
        return max(self.lead + self.close_only_reach, self.max_gap + 1)

    @property
    def longest_trail(self) -> int:
        """The most frames a track covers after its last sighting."""
        return self.trail + self.close_only_reach


@dataclass
class _Sighting:
    frame: int
    box: np.ndarray
    score: float
    close: bool = True  # from a close look, not a glance


@dataclass
class _Track:
    track_id: int
    class_name: str
    sightings: list[_Sighting] = field(default_factory=list)
    shot_start: int = 0  # the first frame of the shot the track lives in
    shot_end: int | None = None  # its last frame, once a cut has ended it
    glances: bool = False  # its class's detector glances between close looks

    @property
    def first(self) -> _Sighting:
        return self.sightings[0]

    @property
    def last(self) -> _Sighting:
        return self.sightings[-1]

    def predicted_box(self, frame: int) -> np.ndarray:
        """The last box moved on by the track's recent velocity."""
        if len(self.sightings) < 2:
            return self.last.box
        before, after = self.sightings[-2], self.sightings[-1]
        velocity = (after.box - before.box) / max(after.frame - before.frame, 1)
        predicted: np.ndarray = self.last.box + velocity * (frame - after.frame)
        return predicted

    def reach(self, settings: FusionSettings) -> tuple[int, int]:
        """(lead, trail): longer for an object that only close looks may see.

        The lead is longer when a close look saw the object first (a glance may have missed
        it before); this is known at the first sighting, so the cover's start never depends
        on when fusion emits a frame. The trail is longer when no glance saw the object in
        the ``close_only_reach`` frames up to its last sighting.
        """
        extra = settings.close_only_reach if self.glances else 0
        if not extra:
            return settings.lead, settings.trail
        last = self.last.frame
        glanced = any(not s.close and last - s.frame <= extra for s in reversed(self.sightings))
        return settings.lead + (extra if self.first.close else 0), settings.trail + (0 if glanced else extra)

    def coverage(
        self, frame: int, settings: FusionSettings, path: _CameraPath
    ) -> tuple[np.ndarray, float, bool] | None:
        """The box covering this track in ``frame``: (box, score, seen) or None."""
        if self.first.frame <= frame <= self.last.frame:
            lead = trail = 0
        else:
            lead, trail = self.reach(settings)
        if frame < max(self.first.frame - lead, self.shot_start) or frame > self.last.frame + trail:
            return None
        if self.shot_end is not None and frame > self.shot_end:
            return None
        if frame < self.first.frame:
            box = _union(self.first.box, path.carry(self.first, frame))
            return _grown(box, settings, self.first.frame - frame), self.first.score, False
        if frame > self.last.frame:
            # Trailing a moving object: cover where it was, where it is heading and where the camera took it.
            box = _union(self.last.box, self.predicted_box(frame), path.carry(self.last, frame))
            return _grown(box, settings, frame - self.last.frame), self.last.score, False
        after_index = bisect.bisect_left(self.sightings, frame, key=_frame_of)
        after = self.sightings[after_index]
        if after.frame == frame:
            return after.box, after.score, True
        before = self.sightings[after_index - 1]
        weight = (frame - before.frame) / (after.frame - before.frame)
        straight = before.box * (1 - weight) + after.box * weight
        followed = path.carry(before, frame) * (1 - weight) + path.carry(after, frame) * weight
        box = _grown(_union(straight, followed), settings, min(frame - before.frame, after.frame - frame))
        return box, min(before.score, after.score), False


def _frame_of(sighting: _Sighting) -> int:
    return sighting.frame


def _grown(box: np.ndarray, settings: FusionSettings, frames_away: int) -> np.ndarray:
    """``box`` grown about its centre by ``growth_per_frame`` of its size for each frame to the
    nearest sighting, up to ``max_growth``: the further from a sighting, the less sure the place."""
    growth = min(settings.growth_per_frame * frames_away, settings.max_growth)
    if growth <= 0:
        return box
    half = (box[2:] - box[:2]) * (growth / 2)
    grown = box.copy()
    grown[:2] -= half
    grown[2:] += half
    return grown


class _CameraPath:
    """The shift of each frame still needed to carry a box, by frame number."""

    def __init__(self) -> None:
        self._shifts: list[Shift] = []
        self._first = 0  # the frame of self._shifts[0]

    def add(self, shift: Shift) -> None:
        self._shifts.append(shift)

    def carry(self, sighting: _Sighting, frame: int) -> np.ndarray:
        """The sighting's box moved as the camera moved the picture from its frame to ``frame``."""
        low, high = sorted((sighting.frame, frame))
        if low + 1 < self._first:
            raise VeilError(f"internal error: the camera's shift at frame {low + 1} was forgotten")
        dx = dy = 0.0
        for step_x, step_y in self._shifts[low + 1 - self._first : high + 1 - self._first]:
            dx += step_x
            dy += step_y
        if frame < sighting.frame:
            dx, dy = -dx, -dy
        carried: np.ndarray = sighting.box + np.array((dx, dy, dx, dy), sighting.box.dtype)
        return carried

    def forget_before(self, frame: int) -> None:
        """Drop the shifts of frames before ``frame``: no box will be carried over them."""
        if frame > self._first:
            del self._shifts[: frame - self._first]
            self._first = frame


def _best_pairs(fit: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs with the largest total ``fit`` among as many pairs as the finite entries allow."""
    eligible = np.isfinite(fit)
    if not eligible.any():
        return []
    rows, columns = fit.shape
    cost = -fit[eligible]
    # An ineligible pair costs more than pairing every row at the worst eligible cost could save, so
    # the solver makes as many eligible pairs as it can; lapjv needs every cost below lap.LARGE (1e6).
    no_match = cost.max() + 1 + (cost.max() - cost.min()) * min(rows, columns)
    square = np.full((max(rows, columns),) * 2, no_match)
    square[:rows, :columns][eligible] = cost
    _, column_of_row, _ = lap.lapjv(square)
    return [
        (row, int(column))
        for row, column in enumerate(column_of_row[:rows])
        if column < columns and eligible[row, column]
    ]


def _union(*boxes: np.ndarray) -> np.ndarray:
    """The smallest box holding all ``boxes``."""
    union = np.array(boxes[0], dtype=np.result_type(*boxes))
    for box in boxes[1:]:
        np.minimum(union[:2], box[:2], out=union[:2])
        np.maximum(union[2:], box[2:], out=union[2:])
    return union


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of ``box`` (x1, y1, x2, y2) with each row of ``boxes``."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    iou: np.ndarray = intersection / np.maximum(area + areas - intersection, 1e-6)
    return iou


def _centre_distance(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Distance between centres, in units of ``box``'s larger side."""
    centre = (box[:2] + box[2:]) / 2
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    scale = max(float(np.max(box[2:] - box[:2])), 1.0)
    distance: np.ndarray = np.linalg.norm(centres - centre, axis=1) / scale
    return distance


class TemporalFusion:
    """Streaming association, gap filling and lead/trail extension with look-ahead.

    >>> fusion = TemporalFusion()
    >>> for index, detections in enumerate(per_frame):   # doctest: +SKIP
    ...     for ready_index, covered in fusion.push(index, detections): ...
    >>> for ready_index, covered in fusion.flush(): ...  # doctest: +SKIP
    """

    def __init__(self, settings: FusionSettings | None = None, glancing: Collection[str] = ()) -> None:
        """``glancing``: the classes whose detectors glance between close looks; only their objects
        may need ``close_only_reach``."""
        self.settings = settings or FusionSettings()
        self._glancing = frozenset(glancing)
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._next_to_emit = 0
        self._last_pushed = -1
        self._shot_start = 0
        self._path = _CameraPath()

    def push(
        self,
        frame: int,
        detections: Detections | None,
        cut: bool = False,
        shift: Shift = (0.0, 0.0),
        glanced: Collection[str] = (),
    ) -> list[tuple[int, Detections]]:
        """Add the detections of ``frame`` (frames must come in order, 0, 1, 2, ...).

        ``detections`` is None for a frame the detectors did not look at; ``cut``
        says that ``frame`` starts a new shot; ``shift`` is how far the camera moved
        the picture since the frame before (veil.pipeline.motion; 0, 0: not known);
        ``glanced`` names the classes whose detectors only glanced at this frame.
        """
        if frame != self._last_pushed + 1:
            raise ValueError(f"frames must be pushed in order: expected {self._last_pushed + 1}, got {frame}")
        self._last_pushed = frame
        self._path.add(shift)
        if cut:
            self._cut(frame)
        if detections is not None:
            self._associate(frame, detections, glanced)
        return self._emit(up_to=frame - self.settings.horizon)

    def flush(self) -> list[tuple[int, Detections]]:
        """Emit every remaining frame: the video has ended, nothing more will come."""
        return self._emit(up_to=self._last_pushed)

    def _cut(self, frame: int) -> None:
        for track in self._tracks:
            if track.shot_end is None:
                track.shot_end = frame - 1
        self._shot_start = frame

    def _associate(self, frame: int, detections: Detections, glanced: Collection[str]) -> None:
        live = [t for t in self._tracks if t.shot_end is None and frame - t.last.frame <= self.settings.max_gap + 1]
        for class_name in np.unique(detections.classes.astype(str)):
            chosen = detections[detections.classes == class_name]
            candidates = [t for t in live if t.class_name == class_name]
            self._match(frame, chosen, candidates, class_name, close=class_name not in glanced)

    def _match(self, frame: int, detections: Detections, tracks: list[_Track], class_name: str, close: bool) -> None:
        """Pair detections with tracks by the best total fit (not greedily): in a crowd
        seen every few frames, a greedy pick can hand one face's track to its neighbour,
        and interpolating between two faces covers neither.

        Pairs that overlap are made first, and only the detections and tracks left over
        are paired by centre distance. In one pass over both kinds, the solver, which
        makes as many pairs as it can, would buy one more pair with a chain of poor
        ones: a face missed for a look hands its track the neighbour's detection, the
        neighbour's track the next one's, and every cover between the two looks slides
        from one face to another.
        """
        matched: set[int] = set()
        if tracks and len(detections):
            fit, overlapping = self._fit(frame, detections, tracks)
            pairs = _best_pairs(np.where(overlapping, fit, -np.inf))
            rows = np.setdiff1d(np.arange(len(detections)), [row for row, _ in pairs])
            columns = np.setdiff1d(np.arange(len(tracks)), [column for _, column in pairs])
            pairs += [(rows[r], columns[c]) for r, c in _best_pairs(fit[np.ix_(rows, columns)])]
            for index, column in pairs:
                box = detections.boxes[index]
                score = float(detections.scores[index])
                tracks[column].sightings.append(_Sighting(frame, box.copy(), score, close))
                matched.add(int(index))
        for unmatched in range(len(detections)):
            if unmatched in matched:
                continue
            box, score = detections.boxes[unmatched].copy(), float(detections.scores[unmatched])
            sighting = _Sighting(frame, box, score, close)
            glances = class_name in self._glancing
            track = _Track(self._next_id, class_name, [sighting], shot_start=self._shot_start, glances=glances)
            self._next_id += 1
            self._tracks.append(track)

    def _fit(self, frame: int, detections: Detections, tracks: list[_Track]) -> tuple[np.ndarray, np.ndarray]:
        """(detections x tracks) overlap minus centre distance with each track's predicted box,
        -inf where a pair is neither overlapping enough nor near enough; and where a pair
        overlaps enough."""
        predicted = np.stack([t.predicted_box(frame) for t in tracks])
        reach = self.settings.max_centre_distance * np.array([frame - t.last.frame for t in tracks], dtype=np.float32)
        fit = np.full((len(detections), len(tracks)), -np.inf)
        overlapping = np.zeros(fit.shape, bool)
        for index, box in enumerate(detections.boxes):
            iou = box_iou(box, predicted)
            distance = _centre_distance(box, predicted)
            overlapping[index] = iou >= self.settings.min_iou
            fit[index] = np.where(overlapping[index] | (distance <= reach), iou - distance, -np.inf)
        return fit, overlapping

    def _emit(self, up_to: int) -> list[tuple[int, Detections]]:
        ready = []
        while self._next_to_emit <= up_to:
            ready.append((self._next_to_emit, self._covered(self._next_to_emit)))
            self._next_to_emit += 1
        self._forget_finished()
        return ready

    def _covered(self, frame: int) -> Detections:
        boxes, scores, classes, ids, seen = [], [], [], [], []
        for track in self._tracks:
            cover = track.coverage(frame, self.settings, self._path)
            if cover is None:
                continue
            box, score, was_seen = cover
            boxes.append(box)
            scores.append(score)
            classes.append(track.class_name)
            ids.append(track.track_id)
            seen.append(was_seen)
        if not boxes:
            return Detections.empty()
        return Detections(
            np.stack(boxes), np.array(scores), np.array(classes, dtype=object), np.array(ids), np.array(seen)
        )

    def _forget_finished(self) -> None:
        """Drop tracks that can no longer cover a frame still to be emitted, and the camera's
        shifts no box will be carried over: a frame still to be emitted is covered from
        sightings at most ``trail`` (trailing) or ``max_gap + 1`` (between sightings) frames before it."""
        reach = self.settings.longest_trail
        self._tracks = [
            t
            for t in self._tracks
            if t.last.frame + reach >= self._next_to_emit
            or self._last_pushed - t.last.frame <= self.settings.max_gap + 1
        ]
        self._path.forget_before(self._next_to_emit - max(reach, self.settings.max_gap + 1))
