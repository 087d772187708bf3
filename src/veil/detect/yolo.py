"""Plates with a YOLOv8-style ONNX model (Ultralytics detect or segment export)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from veil.detect.base import check_image, finish, nms, run_session
from veil.detect.optimize import prepared_model, prune
from veil.detect.settings import DEFAULT_PLATE_THRESHOLD, Precision
from veil.detect.weights import check_file, default_model_path, load_session
from veil.errors import ModelError, first_line
from veil.records import PLATE, Detections
from veil.samples import calibration_photos

PAD_VALUE = 114  # Ultralytics' letterbox grey
ALIGN = 32  # the largest stride: input sides must be multiples of it
REG_MAX = 16  # distribution bins per box side in a YOLOv8 head
BOX_CHANNELS = 4 * REG_MAX

DEFAULT_PLATE_SIDES = (640, 960)
"""Each frame is seen twice: shrunk to 640 px on the long side, the export's own
scale, where large, close plates score best; and at 960 px, where small plates
keep more pixels. On the 720p toll-booth clip (every 4th frame, int8) frames with
a plate found: 53/85 at 640 alone, 70 at 640 + 960, 71 at 640 + 1280 (which costs
twice the second pass); recall on the dev plates: 0.968 for all three."""

CALIBRATION_SIDE = 640
"""Calibration inputs are the packaged photos at the export's 640-px size."""


class YoloPlateDetector:
    """Licence plates in RGB images with a YOLOv8 detect or segment model.

    The model's anchor decoder, frozen at the export size, is cut off: the graph
    ends at the three raw head outputs, which run at any input size, and the
    boxes are decoded here (distribution focal loss bins -> distances from the
    anchor centre). So a frame runs whole, once per size in ``sides`` (its long
    side shrunk to that size, never enlarged), padded right and below with grey
    to a multiple of 32 rather than letterboxed into a square. Every class the
    model knows counts as a plate (the default model has one class);
    segmentation masks are not used.

    ``threshold=0.1``: see DEFAULT_PLATE_THRESHOLD.
    """

    class_name = PLATE

    def __init__(
        self,
        model_path: Path | None = None,
        threshold: float = DEFAULT_PLATE_THRESHOLD,
        iou: float = 0.45,
        threads: int | None = None,
        sides: tuple[int, ...] = DEFAULT_PLATE_SIDES,
        precision: Precision = "int8",
        cache_dir: Path | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"plate threshold must be in (0, 1), got {threshold}")
        if not 0.0 < iou <= 1.0:
            raise ValueError(f"iou must be in (0, 1], got {iou}")
        if not sides or min(sides) < ALIGN:
            raise ValueError(f"sides must be one or more sizes >= {ALIGN}, got {sides}")
        self.model_path = Path(model_path) if model_path is not None else default_model_path(PLATE)
        self.threshold = float(threshold)
        self.iou = float(iou)
        self.sides = tuple(sorted(set(sides)))
        self.precision = precision
        prepared = prepared_model(self.model_path, "yolo", precision, _head_graph, _calibration, cache_dir)
        self._session = load_session(prepared, threads)
        self._input = self._session.get_inputs()[0].name

    def __repr__(self) -> str:
        return (
            f"YoloPlateDetector({str(self.model_path)!r}, threshold={self.threshold}, iou={self.iou}, "
            f"sides={self.sides}, precision={self.precision!r})"
        )

    def detect(self, image: np.ndarray) -> Detections:
        return self._detect(image, self.sides)

    def glance(self, image: np.ndarray) -> Detections:
        """Plates at the smallest of ``sides`` only: the large, close ones (about a third of the cost at 720p)."""
        return self._detect(image, self.sides[:1])

    def _detect(self, image: np.ndarray, sides: tuple[int, ...]) -> Detections:
        check_image(image)
        height, width = image.shape[:2]
        scales = {input_size(width, height, side)[0]: side for side in sides}  # small images: one pass
        found = [self._detect_at(image, side) for side in scales.values()]
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        order = nms(boxes, scores, self.iou)
        return finish(boxes[order], scores[order], width, height, PLATE)

    def _detect_at(self, image: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (image pixels) and scores from one pass at up to ``side`` px."""
        blob, scale = padded_input(image, side)
        outputs = run_session(self._session, {self._input: blob}, self.model_path)
        found = [self._decode_level(np.asarray(raw), blob.shape[2]) for raw in outputs]
        return np.concatenate([b for b, _ in found]) / scale, np.concatenate([s for _, s in found])

    def _decode_level(self, raw: np.ndarray, input_height: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (input pixels) and scores above the threshold from one head output [1, 64 + classes, h, w]."""
        if raw.ndim != 4 or raw.shape[0] != 1 or raw.shape[1] <= BOX_CHANNELS or raw.shape[2] == 0:
            raise ModelError(f"plate model {self.model_path} returned an output of shape {raw.shape}")
        stride = input_height / raw.shape[2]
        width = raw.shape[3]
        flat = raw[0].reshape(raw.shape[1], -1)
        logits = flat[BOX_CHANNELS:].max(axis=0)
        keep = np.nonzero(logits >= np.log(self.threshold / (1 - self.threshold)))[0]
        scores = 1 / (1 + np.exp(-logits[keep].astype(np.float32)))
        bins = flat[:BOX_CHANNELS, keep].reshape(4, REG_MAX, -1).astype(np.float32)
        bins = np.exp(bins - bins.max(axis=1, keepdims=True))
        distances = (bins * np.arange(REG_MAX, dtype=np.float32)[None, :, None]).sum(axis=1) / bins.sum(axis=1)
        cy, cx = np.divmod(keep, width)
        cx, cy = cx + 0.5, cy + 0.5
        left, top, right, bottom = distances
        boxes = np.stack([cx - left, cy - top, cx + right, cy + bottom], axis=1) * stride
        return boxes.astype(np.float32).reshape(-1, 4), scores


def input_size(width: int, height: int, max_side: int) -> tuple[float, int, int]:
    """``(scale, padded width, padded height)`` the model runs at for an image of this size."""
    scale = min(1.0, max_side / max(width, height))
    return scale, _align(round(width * scale)), _align(round(height * scale))


def padded_input(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The model input for ``image`` (0..1, grey padding right and below) and its scale."""
    height, width = image.shape[:2]
    scale, in_w, in_h = input_size(width, height, max_side)
    if scale != 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((in_h, in_w, 3), PAD_VALUE, np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255), scale


def _align(n: int) -> int:
    return max(ALIGN, -(-n // ALIGN) * ALIGN)


def _calibration() -> Iterator[np.ndarray]:
    for photo in calibration_photos():
        yield padded_input(photo, CALIBRATION_SIDE)[0]


def _head_graph(path: Path) -> bytes:
    """The model at ``path`` as fp32, ending at its raw per-level head outputs, with free H and W.

    Ultralytics exports reshape each level's ``[1, 64 + classes, h, w]`` head
    output to ``[1, 64 + classes, -1]`` before the fixed-size anchor decoder;
    those reshapes' inputs become the graph's outputs and everything after them
    (the decoder, and a segment model's mask branch) is pruned.
    """
    import onnx

    path = check_file(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot load model {path}: not a readable ONNX file ({type(exc).__name__})") from exc
    where = f"cannot load model {path}: not a YOLOv8-style model"
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise ModelError(f"{where} (expected one [1, 3, H, W] image input)")
    _to_float32(model)
    heads = _head_outputs(model)
    if not heads:
        raise ModelError(f"{where} (no [1, 64 + classes, h, w] head outputs found)")
    del graph.output[:]
    for name in heads:
        graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, None, None, None]))
    prune(model, heads)
    image = inputs[0]
    del graph.input[:]
    graph.input.append(image)
    for dim, name in zip(graph.input[0].type.tensor_type.shape.dim[2:], ("height", "width"), strict=False):
        dim.Clear()
        dim.dim_param = name
    del graph.value_info[:]
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"{where} ({first_line(exc, 200)})") from exc
    serialized: bytes = model.SerializeToString()
    return serialized


def _to_float32(model) -> None:  # type: ignore[no-untyped-def]
    """Turn fp16 weights, constants, casts and declared types into fp32, in place."""
    from onnx import TensorProto, numpy_helper

    half, single = TensorProto.FLOAT16, TensorProto.FLOAT
    graph = model.graph
    for tensor in graph.initializer:
        if tensor.data_type == half:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == half:
                attribute.i = single
            elif attribute.name == "value" and attribute.t.data_type == half:
                attribute.t.CopyFrom(
                    numpy_helper.from_array(numpy_helper.to_array(attribute.t).astype(np.float32), attribute.t.name)
                )
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.type.tensor_type.elem_type == half:
            value.type.tensor_type.elem_type = single


def _head_outputs(model) -> list[str]:  # type: ignore[no-untyped-def]
    """Inputs of the reshapes to ``[1, 64 + classes, -1]``: one per detection level."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    heads = []
    for node in model.graph.node:
        shape = constants.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) == 2 else None
        if shape is not None and shape.shape == (3,) and shape[0] == 1 and shape[1] > BOX_CHANNELS and shape[2] == -1:
            heads.append(node.input[0])
    return heads
