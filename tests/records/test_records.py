"""The detection record and its JSON forms: open classes, validated names, a light leaf."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from veil.records import DetectionLog, Detections, VideoMetadata, merge_documents

HEAVY = ("onnxruntime", "av", "cv2", "lap", "boto3")


@dataclass(frozen=True)
class Probed:
    """What a probe reports, without veil.media."""

    codec: str = "h264"
    format_name: str = "mov,mp4,m4a,3gp,3g2,mj2"
    average_rate: Fraction | None = Fraction(30000, 1001)
    duration_s: float | None = 2.5
    display_size: tuple[int, int] = (320, 180)


def one_box(class_name: str) -> Detections:
    return Detections.of_class(np.array([[32, 18, 64, 36]], np.float32), np.array([0.5], np.float32), class_name)


@pytest.mark.parametrize("name", ["", "Tattoo", "two words", "3d", "face!", "plate-number"])
def test_a_class_name_that_is_not_a_lowercase_identifier_is_refused_by_name(name: str) -> None:
    with pytest.raises(ValueError, match=f"class name {name!r} is not allowed"):
        one_box(name)


def test_a_class_name_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="class name 7 is not allowed"):
        Detections(np.zeros((1, 4)), np.ones(1), np.array([7], dtype=object))


def test_custom_classes_are_custom_labels_with_their_own_name_and_survive_a_merge(tmp_path: Path) -> None:
    metadata = VideoMetadata.from_info(Probed())
    parts = []
    for number, classes in enumerate([("face", "tattoo"), ("plate", "tattoo")]):
        parts.append(tmp_path / f"part{number}.json")
        with DetectionLog() as log:
            log.add(number, 33 * number, Detections.merge([one_box(name) for name in classes]), (320, 180))
            log.write(parts[-1], metadata)
    merge_documents(parts, tmp_path / "whole.json", metadata)

    document = json.loads((tmp_path / "whole.json").read_text())
    assert set(document) == {"VideoMetadata", "Faces", "CustomLabels"}
    assert [face["FrameIndex"] for face in document["Faces"]] == [0]
    labels = [(label["FrameIndex"], label["CustomLabel"]["Name"]) for label in document["CustomLabels"]]
    assert labels == [(0, "tattoo"), (1, "vehicle_registration_plate"), (1, "tattoo")]
    assert document["CustomLabels"][0]["CustomLabel"]["Geometry"]["BoundingBox"] == {
        "Width": 0.1,
        "Height": 0.1,
        "Left": 0.1,
        "Top": 0.1,
    }


def test_video_metadata_reads_any_probed_video() -> None:
    assert VideoMetadata.from_info(Probed()).to_api() == {
        "Codec": "h264",
        "DurationMillis": 2500,
        "Format": "mov,mp4,m4a,3gp,3g2,mj2",
        "FrameRate": 29.97,
        "FrameHeight": 180,
        "FrameWidth": 320,
    }


def test_storage_and_records_load_no_model_runtime_media_library_or_s3_client() -> None:
    code = (
        f"import veil, veil.storage, veil.records; import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_lazy_faces_still_hand_out_every_name() -> None:
    code = (
        "import veil, veil.storage, veil.detect; "
        "print(veil.anonymize.__name__, veil.storage.S3Store.__name__, veil.detect.CenterFaceDetector.__name__); "
        "print(sorted(set(veil.__all__) - set(dir(veil))), sorted(set(veil.detect.__all__) - set(dir(veil.detect))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["anonymize S3Store CenterFaceDetector", "[] []"]
