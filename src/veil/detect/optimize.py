"""Fast copies of the detector models, built once from the shipped weights and cached.

The weights as shipped are slow on a CPU: CenterFace is fp32 at opset 9, the
plate model is fp16 (which ONNX Runtime's CPU kernels run through casts) with
an anchor decoder frozen at 640x640. Each detector turns its model into a clean
fp32 graph with free input sizes (``float_graph``); this module then, for
``precision="int8"``, quantizes it statically (QDQ, per-channel weights; a
model may keep its first convolutions in float) with activation ranges
calibrated on photos that ship inside the installed
packages, never on downloads. On a 2-core AVX-512 VNNI CPU that is 3.5x faster
for CenterFace at 1920x1088 (105 ms vs 369 ms) and 3x for the plate model at
640x640; benchmarks/recall.py checks that recall holds.

Built models are cached by the hash of the source weights and the recipe, so a
model is prepared once per machine (tens of seconds) and every later run, and
every worker process, loads the cached file. Building happens under a file
lock and is published by rename, so concurrent processes never see a half-
written model.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from veil.detect.settings import PRECISIONS, Precision
from veil.detect.weights import check_file
from veil.errors import ModelError, first_line
from veil.files import atomic_path

RECIPE_VERSION = 2
"""Bump when the preparation changes, so caches built by older versions are not reused."""

Feeds = Callable[[], Iterator[np.ndarray]]
"""Calibration inputs: model-ready float32 blobs, (1, 3, H, W)."""


def default_cache_dir() -> Path:
    """``$VEIL_MODEL_CACHE``, else ``$XDG_CACHE_HOME/veil/models``, else ``~/.cache/veil/models``."""
    explicit = os.environ.get("VEIL_MODEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "veil" / "models"


def prepared_model(
    source: Path,
    kind: str,
    precision: Precision,
    float_graph: Callable[[Path], bytes],
    calibration: Feeds,
    cache_dir: Path | None = None,
    float_convs: int = 0,
) -> Path:
    """The cached ``precision`` version of the model at ``source``, built now if missing.

    ``float_graph`` turns the source file into a serialized fp32 ONNX graph
    with free input sizes (raising ModelError for a model of another family);
    ``calibration`` yields the inputs whose activation ranges set the int8
    scales; the first ``float_convs`` convolutions stay in float in the int8
    version (see CenterFaceDetector for why).
    """
    if precision not in PRECISIONS:
        raise ModelError(f"unknown model precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    source = check_file(source)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / f"{kind}-{precision}-{_fingerprint(source, f'{kind}:{precision}:{float_convs}')}.onnx"
    if target.is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {cache_dir}: {exc.strerror} (set VEIL_MODEL_CACHE)") from exc
    with _locked(cache_dir / f".{target.name}.lock"):
        if not target.is_file():
            _build(
                source,
                target,
                precision,
                float_graph,
                functools.partial(_quantize, calibration=calibration, float_convs=float_convs),
            )
    return target


def prune(model, outputs: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Drop, in place, the nodes and weights that ``outputs`` do not depend on (an ONNX ModelProto)."""
    graph = model.graph
    needed, kept = set(outputs), []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    weights = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(weights)


def _fingerprint(source: Path, recipe: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read model {source}: {exc.strerror}") from exc
    digest.update(f"{recipe}:{RECIPE_VERSION}".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(
    source: Path,
    target: Path,
    precision: str,
    float_graph: Callable[[Path], bytes],
    quantize: Callable[[bytes, Path], None],
) -> None:
    graph = float_graph(source)
    with atomic_path(target) as output:
        if precision == "fp32":
            output.write_bytes(graph)
            return
        try:
            quantize(graph, output)
        except ModelError:
            raise
        except Exception as exc:  # the quantizer raises whatever its internals hit
            raise ModelError(
                f"cannot quantize model {source} to int8: {first_line(exc)} (try --precision fp32)"
            ) from exc


def _quantize(graph: bytes, output: Path, calibration: Feeds, float_convs: int) -> None:
    """Static QDQ quantization: uint8 activations, per-channel int8 weights, min/max calibration;
    the first ``float_convs`` convolutions left in float."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load_from_string(graph)
    input_name = model.graph.input[0].name
    for number, node in enumerate(model.graph.node):
        node.name = node.name or f"veil_node_{number}"  # the quantizer excludes nodes by name
    convs = [node.name for node in model.graph.node if node.op_type == "Conv"]
    graph = model.SerializeToString()

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
        def __init__(self) -> None:
            self._blobs = calibration()

        def get_next(self) -> dict[str, np.ndarray] | None:
            blob = next(self._blobs, None)
            return None if blob is None else {input_name: blob}

    with tempfile.TemporaryDirectory(prefix="veil-quantize-") as work, _quiet_quantizer():
        plain, ready = Path(work) / "float.onnx", Path(work) / "ready.onnx"
        plain.write_bytes(graph)
        quant_pre_process(str(plain), str(ready), skip_symbolic_shape=True)
        quantize_static(
            str(ready),
            str(output),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=convs[:float_convs],
        )


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Silence the quantizer's notes (on the root logger and ONNX Runtime's) while it runs."""
    import onnxruntime as ort

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        root.setLevel(level)
        ort.set_default_logger_severity(2)
