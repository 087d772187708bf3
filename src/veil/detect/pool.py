"""The detectors of this process, each loaded once and shared.

Loading a model costs seconds (and, at int8, a first-run quantization); a
process that runs many videos or answers many image requests loads each model
once. A detector's ``detect`` may be called from several threads at once (ONNX
Runtime sessions are thread-safe); callers that want one image at a time per
model hold their own lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
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
        self._loading: dict[Hashable, threading.Lock] = {}  # one per model: others load meanwhile
        self._lock = threading.Lock()

    def detector(self, settings: DetectorSettings, class_name: str) -> Detector:
        """The detector of ``class_name`` as ``settings`` describe it, loaded on first use."""
        model, threshold = settings.model_of(class_name)
        key = (class_name, model, threshold, settings.precision, settings.threads)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # held while loading: two threads never load the same model twice
            if key not in self._loaded:
                from veil.detect.factory import build_detector  # the model runtime, loaded on first use

                self._loaded[key] = build_detector(settings, class_name)
            return self._loaded[key]

    def detectors(self, settings: DetectorSettings) -> list[Detector]:
        """One detector per class of ``settings``, in its order, the missing ones loaded at once.

        ONNX Runtime builds a session mostly outside the GIL: the face and plate sessions
        together took 0.16-0.21 s on two threads against 0.23 s one after the other, time
        every run waits before its first look."""
        with ThreadPoolExecutor(len(settings.classes), thread_name_prefix="veil-load") as loaders:
            return list(loaders.map(functools.partial(self.detector, settings), settings.classes))

    def clear(self) -> None:
        """Forget every detector (their memory is freed once no caller holds them)."""
        with self._lock:
            self._loaded.clear()
            self._loading.clear()


POOL = DetectorPool()
"""This process's detectors: what the pipeline and the service share."""
