"""Plates with a YOLOv8-style ONNX model (detect: 1 output; segment: 2 outputs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from veil.detect.base import check_image, finish, nms, run_session
from veil.detect.detections import PLATE, Detections
from veil.detect.weights import default_model_path, load_session
from veil.errors import ModelError

PAD_VALUE = 114  # Ultralytics' letterbox grey
_DTYPES = {"tensor(float16)": np.float16, "tensor(float)": np.float32}


DEFAULT_PLATE_THRESHOLD = 0.1
"""Measured on the dev plates (benchmarks/eval_detectors.py): recall 0.973 vs 0.959 at 0.25."""

DEFAULT_TILE_SCALE = 0.75
"""Tiles see the frame at 3/4 of its pixels: on the 720p toll-booth clip a 33-px plate
that the whole-frame pass (at 1/2) never finds scores about 0.48 there."""

TILE_OVERLAP = 128
"""Pixels (at tile scale) shared by neighbouring tiles, so a small plate fits whole in one."""


class YoloPlateDetector:
    """Licence plates in RGB images with a YOLOv8 detect or segment model.

    The image is letterboxed to the model's input size (grey padding), scaled to
    0..1 and fed in the model's own input precision. Every class the model knows
    counts as a plate (the default model has one class, ``plate``). Segmentation
    masks are not used: boxes are what the redactor needs.

    ``threshold=0.1`` (benchmarks/eval_detectors.py): plate recall 0.973 vs 0.959
    at 0.25, with unmatched boxes covering 0.02 % of the picture on average.
    """

    class_name = PLATE

    def __init__(
        self,
        model_path: Path | None = None,
        threshold: float = DEFAULT_PLATE_THRESHOLD,
        iou: float = 0.45,
        threads: int | None = None,
        input_size: int = 640,
        tile_scale: float | None = DEFAULT_TILE_SCALE,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"plate threshold must be in (0, 1), got {threshold}")
        if not 0.0 < iou <= 1.0:
            raise ValueError(f"iou must be in (0, 1], got {iou}")
        self.model_path = Path(model_path) if model_path is not None else default_model_path(PLATE)
        self.threshold = float(threshold)
        self.iou = float(iou)
        if tile_scale is not None and not 0.0 < tile_scale <= 2.0:
            raise ValueError(f"tile_scale must be in (0, 2], got {tile_scale}")
        self.tile_scale = tile_scale
        self._session = load_session(self.model_path, threads)
        self._inspect(input_size)

    def __repr__(self) -> str:
        return f"YoloPlateDetector({str(self.model_path)!r}, threshold={self.threshold}, iou={self.iou})"

    def _inspect(self, input_size: int) -> None:
        """Read the input size, precision and output layout from the model; reject other families."""
        where = f"cannot load model {self.model_path}: not a YOLOv8-style model"
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{where} (expected one [1, 3, H, W] image input)")
        if len(outputs) not in (1, 2):
            raise ModelError(f"{where} (expected 1 or 2 outputs, found {len(outputs)})")
        node = inputs[0]
        if node.type not in _DTYPES:
            raise ModelError(f"{where} (input type {node.type}, expected float or float16)")
        self._input, self._dtype = node.name, _DTYPES[node.type]
        h, w = node.shape[2:]
        self.input_h = h if isinstance(h, int) and h > 0 else input_size
        self.input_w = w if isinstance(w, int) and w > 0 else input_size
        preds = outputs[0].shape
        if len(preds) != 3:
            raise ModelError(f"{where} (first output {list(preds)}, expected [1, 4 + classes (+ 32), N])")
        self._n_mask = 0
        if len(outputs) == 2:
            protos = outputs[1].shape
            if len(protos) != 4 or not isinstance(protos[1], int):
                raise ModelError(f"{where} (second output {list(protos)}, expected mask protos [1, 32, h, w])")
            self._n_mask = protos[1]
        channels = preds[1]
        if isinstance(channels, int) and channels - 4 - self._n_mask < 1:
            raise ModelError(f"{where} (first output has {channels} channels: no class scores)")

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The model input for ``image`` and ``(ratio, pad_x, pad_y)`` to map boxes back."""
        height, width = image.shape[:2]
        ratio = min(self.input_h / height, self.input_w / width)
        new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
        pad_x, pad_y = (self.input_w - new_w) / 2, (self.input_h - new_h) / 2
        top, left = round(pad_y - 0.1), round(pad_x - 0.1)
        canvas = np.full((self.input_h, self.input_w, 3), PAD_VALUE, np.uint8)
        interpolation = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        canvas[top : top + new_h, left : left + new_w] = cv2.resize(
            image, (new_w, new_h), interpolation=interpolation
        )
        blob = canvas.transpose(2, 0, 1)[None].astype(self._dtype) / self._dtype(255)
        return np.ascontiguousarray(blob), ratio, float(left), float(top)

    def detect(self, image: np.ndarray) -> Detections:
        """Plates in ``image``: one pass over the whole frame for large plates, plus
        overlapping tiles at ``tile_scale`` for small ones (the whole-frame pass
        shrinks a 720p frame to half, and plates a few dozen pixels wide vanish)."""
        check_image(image)
        height, width = image.shape[:2]
        found = [self._detect_view(image)]
        if self.tile_scale is not None:
            scale = self.tile_scale
            scaled = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            rows, columns = _tile_origins(scaled.shape[0], self.input_h), _tile_origins(scaled.shape[1], self.input_w)
            if len(rows) * len(columns) > 1:
                for top in rows:
                    for left in columns:
                        tile = np.ascontiguousarray(scaled[top : top + self.input_h, left : left + self.input_w])
                        boxes, scores = self._detect_view(tile)
                        found.append(((boxes + [left, top, left, top]) / scale, scores))
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        order = nms(boxes, scores, self.iou)
        return finish(boxes[order], scores[order], width, height, PLATE)

    def _detect_view(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and scores in ``image``'s pixels from one letterboxed model pass."""
        blob, ratio, pad_x, pad_y = self.letterbox(image)
        outputs = run_session(self._session, {self._input: blob}, self.model_path)
        preds = np.asarray(outputs[0])
        if preds.ndim != 3 or preds.shape[0] != 1 or preds.shape[1] - 4 - self._n_mask < 1:
            raise ModelError(f"plate model {self.model_path} returned an output of shape {preds.shape}")
        preds = preds[0].astype(np.float32)  # (4 + classes + masks, N)
        class_scores = preds[4 : preds.shape[0] - self._n_mask]
        scores = class_scores.max(axis=0)
        keep = scores >= self.threshold
        scores = scores[keep]
        cx, cy, w, h = preds[:4, keep]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        order = nms(boxes, scores, self.iou)
        boxes, scores = boxes[order], scores[order]
        boxes[:, 0::2] = (boxes[:, 0::2] - pad_x) / ratio
        boxes[:, 1::2] = (boxes[:, 1::2] - pad_y) / ratio
        return boxes.reshape(-1, 4), scores


def _tile_origins(length: int, tile: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length``, overlapping by at least TILE_OVERLAP."""
    if length <= tile:
        return [0]
    count = int(np.ceil((length - TILE_OVERLAP) / (tile - TILE_OVERLAP)))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]
