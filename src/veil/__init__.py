"""veil: cover every face and licence plate in every frame of a video.

>>> import veil
>>> report = veil.anonymize("in.mp4", "out.mp4")   # doctest: +SKIP
>>> print(report.summary())                          # doctest: +SKIP

``import veil`` is light: the pipeline (FFmpeg, ONNX Runtime, OpenCV) loads when
``anonymize``, ``AnonymizeOptions`` or ``Report`` is first used.
"""

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports
from veil.errors import ConfigError, InputError, ModelError, OutputError, VeilError

if TYPE_CHECKING:
    from veil.parallel import anonymize
    from veil.pipeline import AnonymizeOptions, Report

__all__ = [
    "AnonymizeOptions",
    "ConfigError",
    "InputError",
    "ModelError",
    "OutputError",
    "Report",
    "VeilError",
    "anonymize",
]
__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(
    __name__, {"AnonymizeOptions": "veil.pipeline", "Report": "veil.pipeline", "anonymize": "veil.parallel"}
)
