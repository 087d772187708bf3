"""What a reviewer sees and changes: the covers of a detections document, its tracks, and corrections to them.

A detections document (the job API's shapes, see :mod:`veil.records.documents`)
lists every box that was covered, frame by frame, with its ``TrackId`` and
whether the detector saw it or tracking inferred it. Here it becomes
:class:`Cover` records per frame; :func:`summarize` folds them into one
:class:`TrackSummary` per object (runs of seen and inferred frames, no per-frame
boxes, so a long video's timeline stays small); :func:`apply_corrections`
changes the covers as a reviewer asked, and the pipeline renders exactly those.

Boxes are ``(x1, y1, x2, y2)`` as fractions of the displayed frame, as in the
document, so they do not depend on the video's rotation or size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from veil.records.detections import FACE, PLATE
from veil.records.documents import CUSTOM_LABELS, FACES, PLATE_LABEL, box_of

Box = tuple[float, float, float, float]
REGION = "region"
"""The class of a region a reviewer added: covered exactly as drawn, without padding."""
MASK = "mask"
"""The class of a fixed-area mask (or the parts of an inverted one): covered exactly, without padding."""
EXACT_CLASSES = (REGION, MASK)
CORRECTION_TRACK_BASE = 900_000_000
"""Covers a correction adds get ``TrackId`` this plus the correction's id (far above any segment's ids)."""

CorrectionKind = Literal["delete_track", "track_range", "region", "mask", "style", "audio"]
Placement = Literal["drawn", "detected", "tracked"]
"""How a step of a followed region was placed: as the reviewer drew it, on a detection, or by template matching."""
PLACEMENTS: tuple[Placement, ...] = ("drawn", "detected", "tracked")


@dataclass(frozen=True)
class Cover:
    """One covered box on one frame."""

    track_id: int
    class_name: str
    box: Box
    score: float  # 0-1
    seen: bool


Frames = dict[int, list[Cover]]
"""Covers by frame index."""


@dataclass(frozen=True)
class Correction:
    """One change a reviewer made. Frame ranges are inclusive (``start`` to ``end``).

    ``delete_track``: the track is not covered. ``track_range``: the track is
    covered from ``start`` to ``end`` only, trimmed, or extended by holding its
    first or last box. ``region``: ``box`` is covered on ``start``..``end``.
    ``mask``: the same for a fixed area, or with ``invert`` everything except it.
    A region with a ``path`` (frame, box) covers each listed frame at its own box:
    the box followed through the shot; ``placed`` says, step by step, how each was
    placed (see :data:`Placement`), or is empty where that is not known.
    ``style``: the whole job is rendered in ``style``. ``audio``: the sound of
    frames ``start``..``end`` is muted, or with ``bleep`` replaced by a tone.
    """

    kind: CorrectionKind
    id: int = 0
    track_id: int | None = None
    start: int | None = None
    end: int | None = None
    box: Box | None = None
    invert: bool = False
    style: str | None = None
    bleep: bool = False
    path: tuple[tuple[int, Box], ...] = ()
    placed: tuple[Placement, ...] = ()

    def __post_init__(self) -> None:
        if self.placed and len(self.placed) != len(self.path):
            raise ValueError(f"placed has {len(self.placed)} steps, path has {len(self.path)}")
        unknown = [how for how in self.placed if how not in PLACEMENTS]
        if unknown:
            raise ValueError(f"a step placed {unknown[0]!r}: choose from {', '.join(PLACEMENTS)}")

    def to_json(self) -> dict[str, Any]:
        values: dict[str, Any] = {"kind": self.kind, "track_id": self.track_id, "start": self.start, "end": self.end}
        values.update({"box": list(self.box) if self.box else None, "invert": self.invert, "style": self.style})
        values["bleep"] = self.bleep
        if self.path:
            placed = self.placed or (None,) * len(self.path)
            steps = zip(self.path, placed, strict=True)
            values["path"] = [[frame, *box, *([how] if how else [])] for (frame, box), how in steps]
        return {key: value for key, value in values.items() if value is not None and value is not False}

    @classmethod
    def from_json(cls, values: Mapping[str, Any], correction_id: int = 0) -> Correction:
        box = values.get("box")
        steps = values.get("path", ())
        return cls(
            kind=values["kind"],
            id=correction_id,
            track_id=values.get("track_id"),
            start=values.get("start"),
            end=values.get("end"),
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            invert=bool(values.get("invert", False)),
            style=values.get("style"),
            bleep=bool(values.get("bleep", False)),
            path=tuple(
                (int(step[0]), (float(step[1]), float(step[2]), float(step[3]), float(step[4]))) for step in steps
            ),
            placed=tuple(step[5] for step in steps) if steps and all(len(step) > 5 for step in steps) else (),
        )


# -- reading a document -------------------------------------------------------------------------------------------


def _cover(record: Mapping[str, Any]) -> Cover:
    if "Face" in record:
        body, class_name, geometry = record["Face"], FACE, record["Face"]["BoundingBox"]
    else:
        body = record["CustomLabel"]
        class_name = PLATE if body["Name"] == PLATE_LABEL else str(body["Name"])
        geometry = body["Geometry"]["BoundingBox"]
    return Cover(
        track_id=int(record.get("TrackId", -1)),
        class_name=class_name,
        box=box_of(geometry),
        score=float(body.get("Confidence", 0.0)) / 100,
        seen=record.get("Source", "seen") == "seen",
    )


def read_covers(document: Mapping[str, Any]) -> Frames:
    """Every covered box of a detections document, by frame index."""
    frames: Frames = defaultdict(list)
    for section in (FACES, CUSTOM_LABELS):
        for record in document.get(section, []):
            frames[int(record["FrameIndex"])].append(_cover(record))
    return dict(frames)


# -- tracks -------------------------------------------------------------------------------------------------------


@dataclass
class TrackSummary:
    """One object over time: where it was seen and inferred, without its per-frame boxes."""

    track_id: int
    class_name: str
    first: int
    last: int
    seen_frames: int = 0
    inferred_frames: int = 0
    confidence: float = 0.0  # mean over the frames where it was seen
    best_frame: int = 0
    best_box: Box = (0.0, 0.0, 0.0, 0.0)
    runs: list[tuple[int, int, bool]] = field(default_factory=list)  # (first, last, seen), inclusive

    def to_json(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "class": self.class_name,
            "first": self.first,
            "last": self.last,
            "seen_frames": self.seen_frames,
            "inferred_frames": self.inferred_frames,
            "confidence": round(self.confidence, 3),
            "best_frame": self.best_frame,
            "best_box": [round(v, 6) for v in self.best_box],
            "runs": [[a, b, seen] for a, b, seen in self.runs],
        }


def _extend_runs(runs: list[tuple[int, int, bool]], frame: int, seen: bool) -> None:
    if runs and runs[-1][2] == seen and runs[-1][1] == frame - 1:
        runs[-1] = (runs[-1][0], frame, seen)
    else:
        runs.append((frame, frame, seen))


BETWEEN_LOOKS_FRAMES = 8
"""Inferred stretches this short between two seen frames are the frames between the detector's looks (it looks at
every 8th frame by default): the timeline shows them as seen, so a long track is a few runs, not thousands."""


def _merge_between_looks(runs: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    merged: list[tuple[int, int, bool]] = []
    for number, (first, last, seen) in enumerate(runs):
        between = 0 < number < len(runs) - 1 and last - first + 1 <= BETWEEN_LOOKS_FRAMES
        if merged and merged[-1][2] and (seen or between) and merged[-1][1] == first - 1:
            merged[-1] = (merged[-1][0], last, True)
        else:
            merged.append((first, last, seen))
    return merged


def summarize(frames: Mapping[int, Sequence[Cover]]) -> list[TrackSummary]:
    """One summary per track, ordered by first frame; the best box is the most confident one seen.

    ``runs`` show the short inferred stretches between the detector's looks as seen (see
    :data:`BETWEEN_LOOKS_FRAMES`); the frame counts are exact.
    """
    tracks: dict[int, TrackSummary] = {}
    best: dict[int, float] = {}
    for frame in sorted(frames):
        for cover in frames[frame]:
            track = tracks.setdefault(cover.track_id, TrackSummary(cover.track_id, cover.class_name, frame, frame))
            track.last = frame
            _extend_runs(track.runs, frame, cover.seen)
            if cover.seen:
                track.seen_frames += 1
                track.confidence += cover.score
            else:
                track.inferred_frames += 1
            if cover.score > best.get(cover.track_id, -1.0):
                best[cover.track_id] = cover.score
                track.best_frame, track.best_box = frame, cover.box
    for track in tracks.values():
        track.confidence = track.confidence / track.seen_frames if track.seen_frames else 0.0
        track.runs = _merge_between_looks(track.runs)
    return sorted(tracks.values(), key=lambda track: (track.first, track.track_id))


SHORT_TRACK_FRAMES = 5
LOW_CONFIDENCE = 0.5
LONG_INFERRED_FRAMES = 10


def doubtful(tracks: Iterable[TrackSummary]) -> list[dict[str, Any]]:
    """Moments a reviewer should look at, by frame: short tracks, low confidence, long inferred stretches."""
    moments = []
    for track in tracks:
        if track.last - track.first + 1 < SHORT_TRACK_FRAMES:
            moments.append({"frame": track.first, "track_id": track.track_id, "reason": "short track"})
        if track.seen_frames and track.confidence < LOW_CONFIDENCE:
            moments.append({"frame": track.best_frame, "track_id": track.track_id, "reason": "low confidence"})
        for first, last, seen in track.runs:
            if not seen and last - first + 1 >= LONG_INFERRED_FRAMES:
                moments.append({"frame": first, "track_id": track.track_id, "reason": "long inferred stretch"})
    return sorted(moments, key=lambda moment: (moment["frame"], moment["track_id"]))


# -- corrections --------------------------------------------------------------------------------------------------


def _in_range(correction: Correction, frame_count: int) -> range:
    start = max(0, correction.start or 0)
    end = min(frame_count - 1, correction.end if correction.end is not None else frame_count - 1)
    return range(start, end + 1)


def _without_track(frames: Frames, track_id: int | None) -> Frames:
    return {frame: [c for c in covers if c.track_id != track_id] for frame, covers in frames.items()}


def _track_range(frames: Frames, correction: Correction, frame_count: int) -> Frames:
    """Trim the track to the range, and hold its first and last box over the parts of the range it did not reach."""
    own = {frame: c for frame, covers in frames.items() for c in covers if c.track_id == correction.track_id}
    if not own:
        return frames
    result = _without_track(frames, correction.track_id)
    first, last = min(own), max(own)
    for frame in _in_range(correction, frame_count):
        cover = own.get(frame)
        if cover is None and (frame < first or frame > last):
            cover = replace(own[first] if frame < first else own[last], seen=False)
        if cover is not None:
            result.setdefault(frame, []).append(cover)
    return result


def _outside(box: Box) -> list[Box]:
    """The parts of the frame outside ``box``: up to four strips (above, below, left, right)."""
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in box)
    strips = [(0.0, 0.0, 1.0, y1), (0.0, y2, 1.0, 1.0), (0.0, y1, x1, y2), (x2, y1, 1.0, y2)]
    return [strip for strip in strips if strip[2] > strip[0] and strip[3] > strip[1]]


def _add_area(frames: Frames, correction: Correction, frame_count: int) -> Frames:
    if correction.box is None:
        raise ValueError(f"a {correction.kind} correction needs a box")
    class_name = REGION if correction.kind == "region" else MASK
    track = CORRECTION_TRACK_BASE + correction.id
    boxes = _outside(correction.box) if correction.invert else [correction.box]
    covers = [Cover(track, class_name, box, 1.0, True) for box in boxes]
    followed = dict(correction.path)
    result = {frame: list(found) for frame, found in frames.items()}
    for frame in _in_range(correction, frame_count):
        if followed:
            if frame in followed:
                result.setdefault(frame, []).append(Cover(track, class_name, followed[frame], 1.0, True))
        else:
            result.setdefault(frame, []).extend(covers)
    return result


def apply_corrections(frames: Frames, corrections: Iterable[Correction], frame_count: int) -> Frames:
    """The covers after ``corrections``, applied in order (style changes do not touch covers)."""
    for correction in corrections:
        if correction.kind == "delete_track":
            frames = _without_track(frames, correction.track_id)
        elif correction.kind == "track_range":
            frames = _track_range(frames, correction, frame_count)
        elif correction.kind in ("region", "mask"):
            frames = _add_area(frames, correction, frame_count)
    return {frame: covers for frame, covers in frames.items() if covers}


def audio_ranges(corrections: Iterable[Correction]) -> list[tuple[int, int, bool]]:
    """The frame ranges (inclusive) whose sound is muted (False) or bleeped (True)."""
    return [(c.start or 0, c.end or 0, c.bleep) for c in corrections if c.kind == "audio"]


def style_of(corrections: Iterable[Correction]) -> str | None:
    """The style the last style correction chose (None: the job's own)."""
    style = None
    for correction in corrections:
        if correction.kind == "style":
            style = correction.style
    return style
