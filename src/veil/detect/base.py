"""The ``Detector`` protocol and what every detector shares."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import onnxruntime as ort

from veil.errors import ModelError, first_line
from veil.records import Detections


@runtime_checkable
class Detector(Protocol):
    """Finds one class of object in one RGB image.

    ``detect`` takes an ``(H, W, 3)`` uint8 RGB image and returns boxes in that
    image's pixels (``x1, y1, x2, y2``, clipped to the image) with scores in 0..1,
    all at or above the detector's threshold. Any failure raises ``ModelError``:
    a detector never answers "nothing here" because it could not look.
    """

    class_name: str

    def detect(self, image: np.ndarray) -> Detections: ...


@runtime_checkable
class Glancer(Protocol):
    """A detector that can also glance: a cheaper, coarser look that may miss the smallest objects.

    Video runs glance at most of the frames they look at and look closely (``detect``)
    at some, and skip a glancer on the looks only a change of picture triggers
    (veil.pipeline.schedule); a detector without ``glance`` always looks closely.
    """

    def glance(self, image: np.ndarray) -> Detections: ...


def check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"detect() needs an (H, W, 3) RGB image, got {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"detect() needs a uint8 image, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"detect() got an empty image {image.shape}")


def run_session(session: ort.InferenceSession, feed: dict[str, np.ndarray], name: object) -> list[np.ndarray]:
    """``session.run`` with every failure turned into ModelError (fail closed)."""
    try:
        outputs: list[np.ndarray] = session.run(None, feed)
    except Exception as exc:
        raise ModelError(f"model {name} failed on a frame: {first_line(exc)}") from exc
    return outputs


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes (``x1, y1, x2, y2``) kept by non-maximum suppression, best first."""
    if len(boxes) == 0:
        return np.empty(0, np.int64)
    xywh = np.empty_like(boxes, dtype=np.float32)
    xywh[:, :2] = boxes[:, :2]
    xywh[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    # OpenCV's stubs name sequences; it takes (n, 4) and (n,) arrays alike.
    keep = cv2.dnn.NMSBoxes(xywh, scores.astype(np.float32), 0.0, float(iou))  # type: ignore[arg-type]
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def finish(boxes: np.ndarray, scores: np.ndarray, width: int, height: int, class_name: str) -> Detections:
    """Clip boxes to the image, drop empty ones and wrap them as Detections."""
    boxes = boxes.astype(np.float32).reshape(-1, 4)
    scores = np.clip(scores.astype(np.float32).reshape(-1), 0.0, 1.0)
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ModelError(f"{class_name} model produced non-finite boxes or scores")
    return Detections.of_class(boxes, scores, class_name).inside(width, height)
