"""Fast model copies: built once per cache, reused, never half-written."""

from __future__ import annotations

import numpy as np
import pytest

from veil.detect import YoloPlateDetector, default_model_path
from veil.errors import ModelError
from veil.records import PLATE


def test_a_model_is_prepared_once_and_reused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = YoloPlateDetector(precision="fp32", cache_dir=tmp_path)
    built = sorted(p for p in tmp_path.iterdir() if p.suffix == ".onnx")
    assert [p.name.split("-")[:2] for p in built] == [["yolo", "fp32"]]
    stamp = built[0].stat().st_mtime_ns
    second = YoloPlateDetector(precision="fp32", cache_dir=tmp_path)
    assert built[0].stat().st_mtime_ns == stamp, "the cached file is reused, not rebuilt"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".veil-partial-")], "no half-written model left"
    image = np.zeros((360, 640, 3), np.uint8)
    np.testing.assert_array_equal(first.detect(image).boxes, second.detect(image).boxes)


def test_an_unknown_precision_is_a_model_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="unknown model precision 'int4'"):
        YoloPlateDetector(precision="int4", cache_dir=tmp_path)  # type: ignore[arg-type]


def test_an_unwritable_cache_is_one_readable_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelError, match="cannot create the model cache"):
        YoloPlateDetector(model_path=default_model_path(PLATE), cache_dir=blocker / "models")
