"""One pool of detectors per process: each model loaded once, whoever asks and from however many threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import veil.detect.factory
from veil.detect import DetectorPool, DetectorSettings


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """Every model load the pool asks for, as (class, threshold); loading is slow, as real models are."""
    seen: list[tuple[str, float]] = []
    lock = threading.Lock()

    def build_detector(settings: DetectorSettings, class_name: str) -> object:
        time.sleep(0.05)
        with lock:
            seen.append((class_name, settings.model_of(class_name)[1]))
        return object()

    monkeypatch.setattr(veil.detect.factory, "build_detector", build_detector)
    return seen


def test_each_detector_is_loaded_once_even_when_many_threads_ask_at_once(loads: list[tuple[str, float]]) -> None:
    pool = DetectorPool()
    with ThreadPoolExecutor(8) as threads:
        handed = list(threads.map(lambda _: pool.detectors(DetectorSettings()), range(16)))
    assert sorted(loads) == [("face", 0.1), ("plate", 0.1)]
    assert all(d[0] is handed[0][0] and d[1] is handed[0][1] for d in handed)


def test_a_detector_is_shared_by_settings_that_differ_only_for_other_classes(loads: list[tuple[str, float]]) -> None:
    pool = DetectorPool()
    face = pool.detector(DetectorSettings(classes="face"), "face")
    assert pool.detectors(DetectorSettings(plate_threshold=0.5))[0] is face
    assert pool.detector(DetectorSettings(face_threshold=0.3), "face") is not face
    assert loads == [("face", 0.1), ("plate", 0.5), ("face", 0.3)]
