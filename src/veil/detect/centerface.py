"""Faces with a CenterFace-family ONNX model (heatmap, scale, offset, landmarks)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from veil.detect.base import check_image, finish, nms, run_session
from veil.detect.optimize import prepared_model, prune
from veil.detect.settings import DEFAULT_FACE_THRESHOLD, Precision
from veil.detect.weights import check_file, default_model_path, load_session
from veil.errors import ModelError, first_line
from veil.records import FACE, Detections
from veil.samples import calibration_photos

if TYPE_CHECKING:
    import onnx

STRIDE = 4  # the output maps are 1/4 of the input
ALIGN = 32  # the input's sides must be multiples of this
NMS_IOU = 0.3
QUANTIZABLE_OPSET = 13
FLOAT_CONVS = 2
"""Convolutions, from the input on, that stay in float in the int8 model. Fully quantized, the
model lost dim, low-contrast faces on real footage that fp32 finds, and fired on large textured
surfaces. Of the fp32 model's faces (score >= 0.3, 16 px or more) on every 2nd frame of the real
stage clip, fully quantized int8 found 361 of 467; with the first 2, 3 or 4 convolutions in float,
all 467. False "faces" taller than a quarter of the frame on every 4th frame of the toll-booth
clip: fully int8 16, 4 or 3 convolutions in float 6, 2 in float 1, fp32 0. The 5 output
convolutions in float instead found 360 of 467: the loss is in the first layers, where a dark
picture's small differences fall within one step of an 8-bit scale calibrated on bright photos.
Speed: as fully int8 (17 vs 16 ms a 640x360 frame, fp32 39 ms). Measured 2026-12-03 with
throwaway comparison scripts on the shared 2-core machine; benchmarks/real.py has the clips."""
# Output channels in graph order: heatmap, scale (log h, log w), offset (y, x), landmarks.
_CHANNELS = (1, 2, 2, 10)


class CenterFaceDetector:
    """Faces in RGB images with a CenterFace-style model.

    The model runs at the image's own size padded up to multiples of 32, or, when
    ``max_side`` is set and the image's long side exceeds it, at a downscaled copy
    whose long side is ``max_side``. Boxes come back in the input image's pixels.

    Defaults (benchmarks/eval_detectors.py on the dev set): ``threshold=0.1``
    keeps 6 points more face recall than 0.2 (mostly 8-32 px faces) while false
    positives stay small (at most 16 % of a crowd image, under 1 % of a frame on
    the dev clips). ``max_side=1920`` runs 1080p at native size: downscaling a
    1080p frame to 1280 costs most faces under 32 px; 4K is downscaled to bound
    the cost per frame.
    """

    class_name = FACE

    def __init__(
        self,
        model_path: Path | None = None,
        threshold: float = DEFAULT_FACE_THRESHOLD,
        max_side: int | None = 1920,
        threads: int | None = None,
        precision: Precision = "int8",
        cache_dir: Path | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"face threshold must be in (0, 1), got {threshold}")
        if max_side is not None and max_side < ALIGN:
            raise ValueError(f"max_side must be >= {ALIGN} or None, got {max_side}")
        self.model_path = Path(model_path) if model_path is not None else default_model_path(FACE)
        self.threshold = float(threshold)
        self.max_side = max_side
        self.precision = precision
        prepared = prepared_model(
            self.model_path, "centerface", precision, _float_graph, _calibration, cache_dir, FLOAT_CONVS
        )
        self._session = load_session(prepared, threads)
        self._input = self._session.get_inputs()[0].name

    def __repr__(self) -> str:
        return (
            f"CenterFaceDetector({str(self.model_path)!r}, threshold={self.threshold}, "
            f"max_side={self.max_side}, precision={self.precision!r})"
        )

    def input_size(self, width: int, height: int) -> tuple[float, int, int]:
        """``(scale, padded width, padded height)`` the model runs at for an image of this size."""
        scale = 1.0
        if self.max_side is not None and max(width, height) > self.max_side:
            scale = self.max_side / max(width, height)
        w = max(1, round(width * scale))
        h = max(1, round(height * scale))
        return scale, _align(w), _align(h)

    def detect(self, image: np.ndarray) -> Detections:
        check_image(image)
        height, width = image.shape[:2]
        scale, in_w, in_h = self.input_size(width, height)
        if scale != 1.0:
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            sx, sy = w / width, h / height
        else:
            w, h, sx, sy = width, height, 1.0, 1.0
        blob = np.zeros((1, 3, in_h, in_w), np.float32)  # black padding right and below
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        outputs = run_session(self._session, {self._input: blob}, self.model_path)
        boxes, scores = self._decode(outputs, in_h, in_w)
        boxes[:, 0::2] /= sx
        boxes[:, 1::2] /= sy
        return finish(boxes, scores, width, height, FACE)

    def _decode(self, outputs: list[np.ndarray], in_h: int, in_w: int) -> tuple[np.ndarray, np.ndarray]:
        if len(outputs) < 4:
            raise ModelError(f"face model {self.model_path} returned {len(outputs)} outputs, expected 4")
        heatmap, log_size, offset = outputs[0], outputs[1], outputs[2]
        out_h, out_w = in_h // STRIDE, in_w // STRIDE
        for array, channels in zip((heatmap, log_size, offset), _CHANNELS, strict=False):
            if array.ndim != 4 or array.shape[1] != channels or array.shape[2:] != (out_h, out_w):
                raise ModelError(
                    f"face model {self.model_path} returned an output of shape {array.shape}, "
                    f"expected (1, {channels}, {out_h}, {out_w})"
                )
        heat = heatmap[0, 0]
        ys, xs = np.nonzero(heat > self.threshold)
        scores = heat[ys, xs]
        box_h = np.exp(log_size[0, 0, ys, xs]) * STRIDE
        box_w = np.exp(log_size[0, 1, ys, xs]) * STRIDE
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
        boxes = np.stack([cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2], axis=1)
        boxes = boxes.astype(np.float32).reshape(-1, 4)
        keep = nms(boxes, scores, NMS_IOU)
        return boxes[keep], scores[keep].astype(np.float32)


def _dims(value: object) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]  # type: ignore[attr-defined]


def _align(n: int) -> int:
    return max(ALIGN, math.ceil(n / ALIGN) * ALIGN)


CALIBRATION_SIZE = (640, 384)
"""Width, height of the calibration inputs: photos at a size the model often sees."""


def _calibration() -> Iterator[np.ndarray]:
    for photo in calibration_photos():
        resized = cv2.resize(photo, CALIBRATION_SIZE, interpolation=cv2.INTER_AREA)
        yield np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)


def _check_centerface_style(path: Path, graph: onnx.GraphProto, inputs: int) -> None:
    """Refuse a graph that is not CenterFace-shaped: one image input, four outputs of the known channels."""
    if not graph.node or inputs != 1:
        raise ModelError(
            f"cannot load model {path}: not a CenterFace-style model "
            f"(expected 1 image input, found {inputs} and {len(graph.node)} nodes)"
        )
    if len(graph.output) != 4:
        raise ModelError(
            f"cannot load model {path}: not a CenterFace-style model (expected 4 outputs: "
            f"heatmap, scale, offset, landmarks; found {len(graph.output)})"
        )
    for output, channels in zip(graph.output, _CHANNELS, strict=False):
        dims = output.type.tensor_type.shape.dim
        declared = dims[1].dim_value if len(dims) == 4 else None
        if len(dims) != 4 or (declared and declared != channels):
            raise ModelError(
                f"cannot load model {path}: not a CenterFace-style model (output "
                f"{output.name!r} should be [batch, {channels}, h, w])"
            )


def _float_graph(path: Path) -> bytes:
    """The model at ``path`` as fp32 with free batch, height and width, at opset 13, serialized.

    The shipped CenterFace graph declares a fixed ``[10, 3, 32, 32]`` input; its
    convolutions work at any size that is a multiple of 32, so the declared
    dimensions are replaced by symbolic ones. Opset 13 is the first whose
    quantize nodes take per-channel scales.
    """
    import onnx
    from onnx import version_converter
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    path = check_file(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot load model {path}: not a readable ONNX file ({type(exc).__name__})") from exc
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    _check_centerface_style(path, graph, len(inputs))
    # The tool wants every graph input; old exports list initializers as inputs too.
    input_dims = {i.name: _dims(i) for i in graph.input}
    input_dims[inputs[0].name] = ["batch", 3, "height", "width"]
    output_dims = {
        o.name: ["batch", c, "out_height", "out_width"] for o, c in zip(graph.output, _CHANNELS, strict=False)
    }
    try:
        model = update_inputs_outputs_dims(model, input_dims, output_dims)
        # Weights listed as inputs too cannot be constant-folded or quantized;
        # unused ones (batch-norm counters) only make every loader complain.
        image_input = [i for i in model.graph.input if i.name not in initializers]
        del model.graph.input[:]
        model.graph.input.extend(image_input)
        prune(model, [output.name for output in model.graph.output])
        if model.opset_import[0].version < QUANTIZABLE_OPSET:
            model = version_converter.convert_version(model, QUANTIZABLE_OPSET)
        serialized: bytes = model.SerializeToString()
        return serialized
    except Exception as exc:
        raise ModelError(f"cannot load model {path}: {first_line(exc)}") from exc
