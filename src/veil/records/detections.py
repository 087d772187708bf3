"""The one data model of the hot path: the detections of one frame, as arrays.

Classes are open: a custom detector may name its own (``"tattoo"``). A class name
is a simple lowercase identifier (``[a-z][a-z0-9_]*``), because it becomes a
label in the detections JSON, a key of the report and a part of file and metric
names; veil's own detectors find ``FACE`` and ``PLATE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

FACE = "face"
PLATE = "plate"
CLASSES = (FACE, PLATE)
"""The classes veil's own detectors find."""

_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]*")
_VALID_NAMES: set[str] = set(CLASSES)  # names already checked: the hot path checks each name once


def check_class_names(names: Iterable[object]) -> None:
    """Raise ValueError naming the first class name that is not a simple lowercase identifier."""
    for name in names:
        if name in _VALID_NAMES:
            continue
        if not isinstance(name, str) or not _CLASS_NAME.fullmatch(name):
            raise ValueError(
                f"class name {name!r} is not allowed: use a simple lowercase identifier "
                "(a letter, then letters, digits or '_'), such as 'face' or 'tattoo'"
            )
        _VALID_NAMES.add(name)


def _column(values: np.ndarray | None, n: int, dtype: type, fill: object) -> np.ndarray:
    if values is None:
        return np.full(n, fill, dtype=dtype)
    return np.asarray(values, dtype=dtype).reshape(-1)


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    ``boxes`` is ``(n, 4)`` float32 ``x1, y1, x2, y2`` in pixels of the frame the
    detector saw; ``scores`` are 0..1; ``classes`` are class names (``"face"``,
    ``"plate"`` or a custom detector's, see :func:`check_class_names`). After
    temporal fusion ``track_ids`` name the object each box belongs to and
    ``seen`` tells whether the detector found it in this frame (``True``) or
    tracking inferred it (``False``).
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    # None (not given) becomes a column of -1 / True in __post_init__.
    track_ids: np.ndarray = field(default=None)  # type: ignore[arg-type]
    seen: np.ndarray = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        columns = {
            "boxes": boxes,
            "scores": _column(self.scores, n, np.float32, 0.0),
            "classes": _column(self.classes, n, object, ""),
            "track_ids": _column(self.track_ids, n, np.int64, -1),
            "seen": _column(self.seen, n, bool, True),
        }
        for name, values in columns.items():
            if len(values) != n:
                raise ValueError(f"Detections.{name} has {len(values)} rows, boxes has {n}")
            object.__setattr__(self, name, values)
        check_class_names(set(self.classes.tolist()))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, object))

    @classmethod
    def of_class(cls, boxes: np.ndarray, scores: np.ndarray, class_name: str) -> Detections:
        """Detections of a single class, as a detector produces them."""
        return cls(boxes, scores, np.full(len(scores), class_name, dtype=object))

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.classes for p in parts]),
            np.concatenate([p.track_ids for p in parts]),
            np.concatenate([p.seen for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(
            self.boxes[index],
            self.scores[index],
            self.classes[index],
            self.track_ids[index],
            self.seen[index],
        )

    def inside(self, width: float, height: float) -> Detections:
        """These detections with boxes clipped to a ``width`` x ``height`` picture.

        Boxes with no area left are dropped.
        """
        boxes = self.boxes.astype(np.float32, copy=True)
        np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(boxes[keep], self.scores[keep], self.classes[keep], self.track_ids[keep], self.seen[keep])

    def count_by_class(self) -> dict[str, int]:
        names, counts = np.unique(self.classes.astype(str), return_counts=True)
        return {str(k): int(v) for k, v in zip(names, counts, strict=False)}
