"""The check that a segmented run made the video a single pass makes (shared by every engine's tests)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import pytest

import veil
from tests.segments.fakes import detectors, write_clip
from veil.media import VideoReader


def single_pass_reference(folder: Path, vfr: bool = False, **options: object) -> tuple[Path, Path, Path]:
    """The test clip (faces crossing seams), its single-pass video and detections JSON, in ``folder``."""
    source = write_clip(folder / "clip.mp4", vfr=vfr)
    output = folder / "single.mp4"
    veil.anonymize(source, output, detectors=detectors(), detections_path=folder / "single.json", **options)
    return source, output, folder / "single.json"


def frames_of(path: Path) -> list[tuple[int, np.ndarray]]:
    with VideoReader(path) as reader:
        return [(frame.pts, frame.to_rgb()) for frame in reader]


def timestamps(path: Path) -> list[float]:
    with VideoReader(path) as reader:
        return [frame.timestamp_ms for frame in reader]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        stamps = [(p.pts, p.duration) for p in container.demux(stream) if p.pts is not None]
    return float((max(p + d for p, d in stamps) - min(p for p, _ in stamps)) * stream.time_base)


def records_by_frame(path: Path) -> dict[int, list[tuple[str, tuple[float, ...], float, str, int]]]:
    """Per frame: (class, box in pixels of the 320x180 frame, confidence, source, timestamp), sorted."""
    document = json.loads(path.read_text())
    frames: dict[int, list] = defaultdict(list)
    for key, name in (("Faces", "Face"), ("CustomLabels", "CustomLabel")):
        for record in document[key]:
            body = record[name]
            box = body["BoundingBox"] if name == "Face" else body["Geometry"]["BoundingBox"]
            pixels = (box["Left"] * 320, box["Top"] * 180, box["Width"] * 320, box["Height"] * 180)
            frames[record["FrameIndex"]].append(
                (name, pixels, body["Confidence"], record["Source"], record["Timestamp"])
            )
    return {index: sorted(items) for index, items in frames.items()}


def assert_same_as_single_pass(
    source: Path, output: Path, detections: Path, single_video: Path, single_json: Path
) -> None:
    """Same frames and timestamps, the audio once and whole, the same regions covered frame by frame, seams included."""
    # Frames and timestamps, exactly; the audio once, whole.
    ours, theirs = frames_of(output), frames_of(single_video)
    assert [pts for pts, _ in ours] == [pts for pts, _ in theirs]
    assert timestamps(output) == timestamps(single_video) == timestamps(source)
    assert audio_seconds(output) == pytest.approx(audio_seconds(single_video), abs=1e-3)
    assert audio_seconds(output) == pytest.approx(audio_seconds(source), abs=1e-3)
    # The covered regions, frame by frame, seams included (track ids are per segment).
    covered, expected = records_by_frame(detections), records_by_frame(single_json)
    assert covered.keys() == expected.keys()
    for index in expected:
        assert len(covered[index]) == len(expected[index]), index
        for got, want in zip(covered[index], expected[index], strict=False):
            assert got[0] == want[0] and got[2:] == want[2:], index
            assert np.allclose(got[1], want[1], atol=0.5), index
    # The pixels: the same regions covered in both (an uncovered striped square would differ by far more).
    originals = frames_of(source)
    for index, ((_, mine), (_, reference), (_, original)) in enumerate(zip(ours, theirs, originals, strict=False)):
        difference = np.abs(mine.astype(np.int16) - reference.astype(np.int16))
        assert difference.mean() < 3, index
        for name, (left, top, width, height), _, source_kind, _ in expected.get(index, []):
            x1, y1, x2, y2 = int(left), int(top), int(left + width), int(top + height)
            inside = difference[y1:y2, x1:x2]
            assert inside.mean() < 12, (index, name)
            changed = np.abs(mine[y1:y2, x1:x2].astype(np.int16) - original[y1:y2, x1:x2].astype(np.int16)).mean()
            if source_kind == "seen":  # the box is on the stripes: covered, they are gone
                assert changed > 15, (index, name)
