"""veil.anonymize end to end, on clips the tests make: faithful video, covered faces, fail closed."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import veil
from tests.media_factory import make_clip, psnr
from veil.detect import DetectorSettings, build_detectors
from veil.media import VideoReader, probe
from veil.records import Detections
from veil.samples import sample_frame

FACE_SCENE = (320, 192)


@pytest.fixture(scope="module")
def face_detector():  # type: ignore[no-untyped-def]
    """The real default face model, loaded once for the module."""
    return build_detectors(DetectorSettings(classes=("face",)))


def scene(size: tuple[int, int] = FACE_SCENE, frames: int = 12):  # type: ignore[no-untyped-def]
    return lambda index: np.ascontiguousarray(__import__("cv2").resize(sample_frame(index, (640, 360), frames), size))


def decode(path: Path) -> list[tuple[float, np.ndarray]]:
    with VideoReader(path) as reader:
        return [(frame.timestamp_ms, frame.to_rgb()) for frame in reader]


def audio_seconds(path: Path) -> list[float]:
    """Duration of each audio stream, measured from its packets (headers may lack it)."""
    with av.open(str(path)) as container:
        spans: dict[int, tuple[int, int]] = {}
        if not container.streams.audio:
            return []
        for packet in container.demux(*container.streams.audio):
            if packet.pts is None:
                continue
            start, end = spans.get(packet.stream.index, (packet.pts, packet.pts))
            spans[packet.stream.index] = (min(start, packet.pts), max(end, packet.pts + (packet.duration or 0)))
        streams = {s.index: s for s in container.streams.audio}
        return [float((end - start) * streams[i].time_base) for i, (start, end) in sorted(spans.items())]


@pytest.mark.parametrize(
    "clip",
    [
        {"size": (320, 180), "rate": Fraction(30000, 1001), "audio": [("aac", 48000, 2)]},
        {"size": (320, 180), "vfr": True, "audio": [("aac", 44100, 1), ("libopus", 48000, 2)]},
        {"size": (1080, 1920), "frames": 4, "rotation": -90},
        {"size": (853, 480), "frames": 6, "codec": "mpeg4", "suffix": ".avi"},
        {"size": (320, 180), "codec": "hevc", "pix_fmt": "yuv420p10le"},
        {"size": (320, 180), "codec": "vp9", "suffix": ".webm", "audio": [("libopus", 48000, 2)]},
    ],
    ids=["29.97fps-aac", "vfr-two-audio", "portrait-1080x1920-rotated", "853x480", "hevc-10bit", "vp9-webm"],
)
def test_output_is_the_same_video_with_the_same_timing_rotation_and_audio(
    tmp_path: Path, face_detector, clip: dict
) -> None:  # type: ignore[no-untyped-def]
    suffix = clip.pop("suffix", ".mp4")
    source = make_clip(tmp_path / f"in{suffix}", location_metadata=suffix == ".mp4", **clip)
    output = tmp_path / "out.mp4"

    report = veil.anonymize(source, output, detectors=face_detector)

    before, after = probe(source), probe(output)
    assert (after.width, after.height) == (before.width, before.height)
    assert after.rotation == before.rotation
    frames_in, frames_out = decode(source), decode(output)
    assert len(frames_out) == len(frames_in) == report.frames
    np.testing.assert_allclose([t for t, _ in frames_out], [t for t, _ in frames_in], atol=1)
    frame_seconds = 1 / float(before.average_rate or 30)
    assert len(after.audio) == len(before.audio)
    np.testing.assert_allclose(audio_seconds(output), audio_seconds(source), atol=frame_seconds)
    with av.open(str(output)) as container:
        tags = {k.lower() for k in container.metadata}
    assert not any("location" in k or "make" in k or "model" in k for k in tags)


def test_faces_are_covered_and_the_rest_is_left_as_a_plain_reencode(tmp_path: Path, face_detector) -> None:  # type: ignore[no-untyped-def]
    source = make_clip(tmp_path / "faces.mp4", size=FACE_SCENE, frames=12, content=scene(), crf=12)
    plain, covered = tmp_path / "plain.mp4", tmp_path / "covered.mp4"
    detections_path = tmp_path / "detections.json"

    veil.anonymize(source, plain, detectors=[])
    report = veil.anonymize(source, covered, detectors=face_detector, detections_path=detections_path)

    # Every 8th frame (0 and 8), and frames where the growing face has changed the picture a lot.
    assert 2 <= report.detected_frames <= 4, "the detector looks at a few frames, not all 12"
    assert report.detections["face"] == report.detected_frames, "and finds the astronaut's face each time"
    document = json.loads(detections_path.read_text())
    faces = document["Faces"]
    assert sorted({f["FrameIndex"] for f in faces}) == list(range(12)), "every frame has its face covered"
    width, height = FACE_SCENE
    for (_, plain_image), (_, covered_image), index in zip(decode(plain), decode(covered), range(12), strict=False):
        box = next(f["Face"]["BoundingBox"] for f in faces if f["FrameIndex"] == index)
        x1, y1 = int(box["Left"] * width), int(box["Top"] * height)
        x2, y2 = x1 + int(box["Width"] * width), y1 + int(box["Height"] * height)
        inner = (slice(y1 + 2, y2 - 2), slice(x1 + 2, x2 - 2))
        assert _retained_detail(covered_image[inner], plain_image[inner]) < 0.35, "fine detail inside the face is gone"
        far = np.ones((height, width), bool)
        pad = max(x2 - x1, y2 - y1)
        far[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad] = False
        assert psnr(covered_image[far], plain_image[far]) > 35


def _retained_detail(covered: np.ndarray, plain: np.ndarray) -> float:
    """How much of the plain picture's fine detail is still there: the share of its
    high-pass energy the covered picture reproduces (block edges of a mosaic, which
    match nothing in the face, do not count)."""
    import cv2

    def high_pass(image: np.ndarray) -> np.ndarray:
        grey = image.astype(np.float32).mean(axis=2)
        return (grey - cv2.GaussianBlur(grey, (0, 0), 2.0)).ravel()

    reference = high_pass(plain)
    return float(np.dot(high_pass(covered), reference) / np.dot(reference, reference))


def test_detections_json_has_the_job_api_shape(tmp_path: Path, face_detector) -> None:  # type: ignore[no-untyped-def]
    source = make_clip(tmp_path / "faces.mp4", size=FACE_SCENE, frames=6, content=scene(frames=6))
    path = tmp_path / "d.json"
    veil.anonymize(source, tmp_path / "o.mp4", detectors=face_detector, detections_path=path)
    document = json.loads(path.read_text())
    assert set(document) == {"VideoMetadata", "Faces", "CustomLabels"}
    assert document["VideoMetadata"]["FrameWidth"] == FACE_SCENE[0]
    face = document["Faces"][0]
    assert set(face["Face"]["BoundingBox"]) == {"Left", "Top", "Width", "Height"}
    assert 0 < face["Face"]["BoundingBox"]["Width"] < 1
    assert 10 < face["Face"]["Confidence"] <= 100
    assert face["Source"] in {"seen", "inferred"}
    timestamps = [f["Timestamp"] for f in document["Faces"]]
    assert timestamps == sorted(timestamps) and isinstance(timestamps[0], int)


def test_frames_dir_writes_the_seed_layout(tmp_path: Path, face_detector) -> None:  # type: ignore[no-untyped-def]
    source = make_clip(tmp_path / "faces.mp4", size=FACE_SCENE, frames=3, content=scene(frames=3))
    veil.anonymize(source, tmp_path / "o.mp4", detectors=face_detector, frames_dir=tmp_path / "frames")
    assert sorted(p.name for p in (tmp_path / "frames" / "images").iterdir()) == [
        "000000.png",
        "000001.png",
        "000002.png",
    ]
    assert sorted(p.name for p in (tmp_path / "frames" / "mosaic").iterdir()) == [
        "000000.png",
        "000001.png",
        "000002.png",
    ]


class ExplodingDetector:
    """A detector that fails on its third frame, as a broken model or driver would."""

    class_name = "face"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return Detections.empty()


def test_a_detector_failure_fails_the_run_and_leaves_no_output(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=30)
    output = tmp_path / "out" / "video.mp4"
    output.parent.mkdir()
    # The detector fails on its third call, whichever frame that is.
    with pytest.raises(veil.ModelError, match=r"face detector failed on frame \d+"):
        veil.anonymize(source, output, detectors=[ExplodingDetector()], detections_path=output.parent / "d.json")
    assert list(output.parent.iterdir()) == [], "no video, no detections file, no temporary file"


def test_an_existing_output_is_untouched_when_a_run_fails(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=30)
    output = tmp_path / "out.mp4"
    output.write_bytes(b"previous result")
    with pytest.raises(veil.ModelError):
        veil.anonymize(source, output, detectors=[ExplodingDetector()])
    assert output.read_bytes() == b"previous result"


def test_bad_options_are_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(veil.ConfigError, match="classes"):
        veil.anonymize(tmp_path / "x.mp4", tmp_path / "y.mp4", classes="face,tattoo")


def test_faces_in_a_rotated_phone_video_are_found_upright_and_covered(tmp_path: Path, face_detector) -> None:  # type: ignore[no-untyped-def]
    """A portrait phone clip is stored landscape with rotation -90: detect on what the viewer sees."""
    upright = scene((192, 320), frames=6)
    source = make_clip(
        tmp_path / "phone.mp4",
        size=(320, 192),
        frames=6,
        rotation=-90,
        crf=12,
        content=lambda i: np.ascontiguousarray(np.rot90(upright(i), k=1)),
    )
    path = tmp_path / "d.json"
    report = veil.anonymize(source, tmp_path / "o.mp4", detectors=face_detector, detections_path=path)
    assert report.detections["face"] >= report.detected_frames >= 1, "found at each look"
    document = json.loads(path.read_text())
    assert {f["FrameIndex"] for f in document["Faces"]} == set(range(6))
    assert (document["VideoMetadata"]["FrameWidth"], document["VideoMetadata"]["FrameHeight"]) == (192, 320)
    box = document["Faces"][0]["Face"]["BoundingBox"]
    assert box["Height"] > box["Width"] * 0.8, "an upright face box, in display coordinates"


def test_a_failed_run_leaves_no_frames_behind(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=30)
    frames_dir = tmp_path / "frames"
    with pytest.raises(veil.ModelError):
        veil.anonymize(source, tmp_path / "o.mp4", detectors=[ExplodingDetector()], frames_dir=frames_dir)
    assert list(frames_dir.iterdir()) == []


def test_default_run_covers_the_face_and_the_plate_of_the_sample_clip(tmp_path: Path) -> None:
    """The defaults, end to end: both shipped models, the sample scene veil renders itself."""
    from veil.samples import render_sample_clip

    source = render_sample_clip(tmp_path / "sample.mp4", seconds=0.4)
    path = tmp_path / "d.json"
    report = veil.anonymize(source, tmp_path / "o.mp4", detections_path=path)
    assert report.frames == 10
    assert report.detections["face"] == report.detected_frames and report.detections["plate"] >= 1
    document = json.loads(path.read_text())
    assert {f["FrameIndex"] for f in document["Faces"]} == set(range(10))
    assert {p["FrameIndex"] for p in document["CustomLabels"]} == set(range(10))
    assert document["CustomLabels"][0]["CustomLabel"]["Name"] == "vehicle_registration_plate"
    assert set(report.timings) >= {"decode", "motion", "detect_face", "detect_plate", "track", "redact", "encode"}


class TattooDetector:
    """A custom detector of a class veil has no padding setting for."""

    class_name = "tattoo"

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.of_class(np.array([[10, 10, 60, 50]], np.float32), np.array([0.9]), "tattoo")


def test_boxes_of_any_class_from_a_custom_detector_are_covered(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", size=(160, 96), frames=3, crf=10)
    plain, covered = tmp_path / "plain.mp4", tmp_path / "covered.mp4"
    veil.anonymize(source, plain, detectors=[])
    veil.anonymize(source, covered, detectors=[TattooDetector()], style="solid")
    for (_, before), (_, after) in zip(decode(plain), decode(covered), strict=False):
        assert after[15:45, 15:55].max() < 40, "the tattoo region is blacked out"
        assert psnr(after[60:, 80:], before[60:, 80:]) > 35


def test_a_custom_class_is_written_to_the_detections_as_a_custom_label_of_its_name(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", size=(160, 96), frames=3)
    path = tmp_path / "detections.json"
    report = veil.anonymize(source, tmp_path / "out.mp4", detectors=[TattooDetector()], detections_path=path)
    document = json.loads(path.read_text())
    assert document["Faces"] == []
    labels = document["CustomLabels"]
    assert [label["FrameIndex"] for label in labels] == [0, 1, 2]
    assert {label["CustomLabel"]["Name"] for label in labels} == {"tattoo"}
    box = {"Width": 0.3125, "Height": 0.416667, "Left": 0.0625, "Top": 0.104167}  # (10, 10, 60, 50) in 160 x 96
    assert labels[0]["CustomLabel"]["Geometry"]["BoundingBox"] == box
    assert [label["Source"] for label in labels] == ["seen", "inferred", "inferred"], "looked at frame 0 only"
    assert report.detections == {"tattoo": 1} and report.covered == {"tattoo": 3}


class FlakyDetector:
    """The real face detector, blind on some frames, as detectors are on motion blur."""

    def __init__(self, detector, blind_frames: set[int]) -> None:  # type: ignore[no-untyped-def]
        self.class_name = detector.class_name
        self._detector, self._blind, self._frame = detector, blind_frames, -1

    def detect(self, image: np.ndarray) -> Detections:
        self._frame += 1
        return Detections.empty() if self._frame in self._blind else self._detector.detect(image)


def test_detector_misses_are_covered_by_fusion_so_nothing_flickers(tmp_path: Path, face_detector) -> None:  # type: ignore[no-untyped-def]
    source = make_clip(tmp_path / "faces.mp4", size=FACE_SCENE, frames=12, content=scene())
    path = tmp_path / "d.json"
    blind = {3, 4, 5, 9}
    flaky = [FlakyDetector(face_detector[0], blind)]
    veil.anonymize(source, tmp_path / "o.mp4", detectors=flaky, detections_path=path, detect_every=1)
    faces = json.loads(path.read_text())["Faces"]
    assert {f["FrameIndex"] for f in faces} == set(range(12)), "covered in every frame, the blind ones included"
    assert {f["FrameIndex"] for f in faces if f["Source"] == "inferred"} >= blind
    assert len({f["TrackId"] for f in faces}) == 1, "one face, one track"


def test_a_face_that_appears_at_a_cut_is_covered_from_its_first_frame(tmp_path: Path, face_detector) -> None:  # type: ignore[no-untyped-def]
    """Detection runs every 8th frame, but a cut is looked at whatever its number (7 here),
    and the coverage of the new shot does not reach back into the old one."""
    import cv2

    from veil.samples import skimage_photo

    empty = cv2.resize(skimage_photo("chelsea.png"), FACE_SCENE)  # a cat: no face this model finds
    with_face = scene(frames=13)
    source = make_clip(
        tmp_path / "cut.mp4", size=FACE_SCENE, frames=13, crf=12, content=lambda i: empty if i < 7 else with_face(i)
    )
    path = tmp_path / "d.json"
    report = veil.anonymize(source, tmp_path / "o.mp4", detectors=face_detector, detections_path=path)
    assert report.cuts == 1 and report.detected_frames == 3, "frame 0, the cut at 7, and 8"
    faces = json.loads(path.read_text())["Faces"]
    assert {f["FrameIndex"] for f in faces} == set(range(7, 13))
    assert next(f for f in faces if f["FrameIndex"] == 7)["Source"] == "seen"
