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


def test_the_face_and_plate_models_load_at_the_same_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a session takes a run's first quarter second; the two models load side by side. Each
    fake load waits for the other to start: loaded one after the other, the first would wait in vain."""
    both_loading = threading.Barrier(2, timeout=5)

    def build_detector(settings: DetectorSettings, class_name: str) -> str:
        both_loading.wait()
        return class_name

    monkeypatch.setattr(veil.detect.factory, "build_detector", build_detector)
    assert DetectorPool().detectors(DetectorSettings()) == ["face", "plate"], "in the settings' order"
