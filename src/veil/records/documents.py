"""The detection record and its JSON forms (the shapes of the job API).

Boxes are written as the hosted API wrote them: ``BoundingBox`` with ``Left``,
``Top``, ``Width`` and ``Height`` as fractions of the displayed frame,
``Confidence`` 0-100, ``Timestamp`` in milliseconds. Faces follow
``GetFaceDetection``'s ``Faces[]``; every other class follows
``DetectCustomLabels``' ``CustomLabels[]``: plates with the label
``vehicle_registration_plate``, a custom detector's class with its own name
(``tattoo``). veil adds ``FrameIndex``, ``TrackId`` and ``Source`` (``seen`` by
the detector or ``inferred`` by temporal fusion).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from veil.files import atomic_path
from veil.records.detections import FACE, PLATE, Detections

PLATE_LABEL = "vehicle_registration_plate"
FACES = "Faces"
CUSTOM_LABELS = "CustomLabels"
SECTIONS = (FACES, CUSTOM_LABELS)
"""The lists of a detections document, in the order they are written."""


def label_of(class_name: str) -> str:
    """The custom label a class is written as: plates keep the replaced API's name, other classes their own."""
    return PLATE_LABEL if class_name == PLATE else class_name


def section_of(class_name: str) -> str:
    """The list of the document that holds records of ``class_name``."""
    return FACES if class_name == FACE else CUSTOM_LABELS


def bounding_box(box: tuple[float, float, float, float], frame_size: tuple[int, int]) -> dict[str, float]:
    """A pixel box ``x1, y1, x2, y2`` as the API's ratios of the frame."""
    width, height = frame_size
    x1, y1, x2, y2 = (float(v) for v in box)
    return {
        "Width": round((x2 - x1) / width, 6),
        "Height": round((y2 - y1) / height, 6),
        "Left": round(x1 / width, 6),
        "Top": round(y1 / height, 6),
    }


def box_of(geometry: Mapping[str, float]) -> tuple[float, float, float, float]:
    """The ``x1, y1, x2, y2`` fractions of the frame that a ``BoundingBox`` says."""
    left, top = float(geometry["Left"]), float(geometry["Top"])
    return (left, top, left + float(geometry["Width"]), top + float(geometry["Height"]))


def pixels_of(fractions: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """``x1, y1, x2, y2`` fractions of a frame as float32 pixels of it."""
    width, height = frame_size
    return np.asarray(fractions, np.float32).reshape(-1, 4) * np.array([width, height, width, height], np.float32)


def as_recorded(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Pixel boxes moved to what a document records of them (six decimals of the frame), read back.

    A run covers these rather than its own boxes, so that a re-render from its
    document covers the very same pixels: an edge a ten-thousandth of a pixel
    past a whole pixel would otherwise round the other way on one side.
    """
    recorded = [box_of(bounding_box(tuple(box), frame_size)) for box in np.asarray(boxes).reshape(-1, 4)]
    return pixels_of(np.array(recorded, np.float32), frame_size)


class ProbedVideo(Protocol):
    """What :meth:`VideoMetadata.from_info` reads of a probed video (``veil.media.VideoInfo`` has it)."""

    @property
    def codec(self) -> str: ...
    @property
    def format_name(self) -> str: ...
    @property
    def average_rate(self) -> Fraction | None: ...
    @property
    def duration_s(self) -> float | None: ...
    @property
    def display_size(self) -> tuple[int, int]: ...


@dataclass(frozen=True)
class VideoMetadata:
    """What the job API reports about a video (``VideoMetadata``)."""

    codec: str
    duration_ms: int
    format: str
    frame_rate: float
    frame_width: int
    frame_height: int

    @classmethod
    def from_info(cls, info: ProbedVideo) -> VideoMetadata:
        """The metadata of a probed video; sizes are the displayed (rotated) ones."""
        width, height = info.display_size
        rate = float(info.average_rate) if info.average_rate else 0.0
        return cls(
            codec=info.codec,
            duration_ms=round((info.duration_s or 0.0) * 1000),
            format=info.format_name,
            frame_rate=round(rate, 3),
            frame_width=width,
            frame_height=height,
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": self.frame_rate,
            "FrameHeight": self.frame_height,
            "FrameWidth": self.frame_width,
        }


def frame_records(
    frame_index: int, timestamp_ms: int, detections: Detections, frame_size: tuple[int, int]
) -> list[tuple[str, dict[str, Any]]]:
    """The API records of one frame's detections, as ``(class, record)`` pairs."""
    records = []
    for i in range(len(detections)):
        class_name = str(detections.classes[i])
        geometry = bounding_box(tuple(detections.boxes[i]), frame_size)
        confidence = round(float(detections.scores[i]) * 100, 3)
        if class_name == FACE:
            body: dict[str, Any] = {"Face": {"BoundingBox": geometry, "Confidence": confidence}}
        else:
            label = {"Name": label_of(class_name), "Confidence": confidence, "Geometry": {"BoundingBox": geometry}}
            body = {"CustomLabel": label}
        record = {
            "Timestamp": timestamp_ms,
            "FrameIndex": frame_index,
            **body,
            "TrackId": int(detections.track_ids[i]),
            "Source": "seen" if detections.seen[i] else "inferred",
        }
        records.append((class_name, record))
    return records


class DetectionLog:
    """Collects every detection of a video without holding them in memory.

    Records are spooled as JSON lines to temporary files (one per list of the
    document) and assembled into the final document by :meth:`write`, so a long
    video's detections cost disk, not RAM.
    """

    def __init__(self) -> None:
        # Closed by close() / leaving the ``with`` block: the log itself is the context manager.
        self._spools: dict[str, IO[str]] = {
            section: tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
            for section in SECTIONS
        }

    def add(self, frame_index: int, timestamp_ms: int, detections: Detections, frame_size: tuple[int, int]) -> None:
        for class_name, record in frame_records(frame_index, timestamp_ms, detections, frame_size):
            self._spools[section_of(class_name)].write(json.dumps(record, separators=(",", ":")) + "\n")

    def write(self, path: str | Path, metadata: VideoMetadata) -> None:
        """Write the whole document atomically to ``path``."""
        _write_document(path, metadata, {section: self._spooled(spool) for section, spool in self._spools.items()})

    @staticmethod
    def _spooled(spool: IO[str]) -> Callable[[], Iterator[str]]:
        def records() -> Iterator[str]:
            spool.seek(0)
            for line in spool:
                yield line.rstrip("\n")
            spool.seek(0, 2)

        return records

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()

    def __enter__(self) -> DetectionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_documents(parts: Sequence[Path | None], path: str | Path, metadata: VideoMetadata) -> None:
    """One detections document from the documents of consecutive segments, records in frame order.

    Each part is in frame order and the parts follow each other, so joining the
    lists part by part keeps the order. One part is read at a time.
    """

    def records(key: str) -> Callable[[], Iterator[str]]:
        def read() -> Iterator[str]:
            for part in parts:
                if part is None:
                    raise ValueError("a segment wrote no detections document")
                with open(part, encoding="utf-8") as handle:
                    for record in json.load(handle)[key]:
                        yield json.dumps(record, separators=(",", ":"))

        return read

    _write_document(path, metadata, {section: records(section) for section in SECTIONS})


def _write_document(
    path: str | Path, metadata: VideoMetadata, sections: dict[str, Callable[[], Iterator[str]]]
) -> None:
    """Write ``{"VideoMetadata": ..., KEY: [records...], ...}`` atomically, streaming the records."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as out:
        out.write('{"VideoMetadata":' + json.dumps(metadata.to_api()))
        for key, records in sections.items():
            out.write(f',"{key}":[')
            for number, record in enumerate(records()):
                if number:
                    out.write(",")
                out.write(record)
            out.write("]")
        out.write("}\n")
