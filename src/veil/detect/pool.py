"""The detectors of this process, each loaded once and shared.

Loading a model costs seconds (and, at int8, a first-run quantization); a
process that runs many videos or answers many image requests loads each model
once. A detector's ``detect`` may be called from several threads at once (ONNX
Runtime sessions are thread-safe); callers that want one image at a time per
model hold their own lock.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING

from veil.detect.settings import DetectorSettings

if TYPE_CHECKING:
    from veil.detect.base import Detector


class DetectorPool:
    """Detectors keyed by what they are loaded from; thread-safe.

    >>> pool = DetectorPool()
    >>> face, plate = pool.detectors(DetectorSettings())   # doctest: +SKIP
    >>> pool.detector(DetectorSettings(), "face") is face  # doctest: +SKIP
    True
    """

    def __init__(self) -> None:
        self._loaded: dict[Hashable, Detector] = {}
        self._lock = threading.Lock()

    def detector(self, settings: DetectorSettings, class_name: str) -> Detector:
        """The detector of ``class_name`` as ``settings`` describe it, loaded on first use."""
        model, threshold = settings.model_of(class_name)
        key = (class_name, model, threshold, settings.precision, settings.threads)
        with self._lock:  # held while loading: two threads never load the same model twice
            if key not in self._loaded:
                from veil.detect.factory import build_detector  # the model runtime, loaded on first use

                self._loaded[key] = build_detector(settings, class_name)
            return self._loaded[key]

    def detectors(self, settings: DetectorSettings) -> list[Detector]:
        """One detector per class of ``settings``, in its order."""
        return [self.detector(settings, name) for name in settings.classes]

    def clear(self) -> None:
        """Forget every detector (their memory is freed once no caller holds them)."""
        with self._lock:
            self._loaded.clear()


POOL = DetectorPool()
"""This process's detectors: what the pipeline and the service share."""
