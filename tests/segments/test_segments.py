"""Segmented runs make the video a single pass makes: frames, timestamps, audio, covered regions, seams included."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import av
import numpy as np
import pytest

import veil
from tests.segments.compare import assert_same_as_single_pass, audio_seconds, single_pass_reference, timestamps
from tests.segments.fakes import DiesOnMarker, FailsOnMarker, detectors, write_clip
from veil.errors import ModelError
from veil.media import index_packets, probe
from veil.parallel.plan import margins, plan_segments
from veil.parallel.pool import LocalEngine
from veil.records import Detections
from veil.track import FusionSettings

SEGMENT_SECONDS = (1.0, 2.0, 2.5)


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    """One pool of two worker processes for the module (spawning costs a second or two)."""
    with LocalEngine(jobs=2) as pool:
        yield pool


@pytest.fixture(scope="module", params=["cfr", "vfr"])
def single(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The test clip and its single-pass output."""
    return single_pass_reference(tmp_path_factory.mktemp("segments"), vfr=request.param == "vfr")


def test_plan_cuts_at_keyframes_with_margins(single) -> None:  # type: ignore[no-untyped-def]
    source, _, _ = single
    info = probe(source)
    index = index_packets(source)
    fusion = FusionSettings()
    before, after = margins(fusion)
    assert (before, after) == (33, 11)
    segments = plan_segments(index, info.time_base, 2.0, fusion)
    assert next((s.start, s.end) for s in segments)[0] == 0 and segments[-1].end == 150
    for left, right in itertools.pairwise(segments):
        assert left.end == right.start and right.start in index.keyframes
    for segment in segments:
        assert segment.first == max(0, segment.start - before) and segment.stop == min(150, segment.end + after)
        assert segment.seek_pts <= segment.pts[0] and index.pts.index(segment.seek_pts) in index.keyframes


@pytest.mark.parametrize(
    ("single", "seconds"),
    [("cfr", seconds) for seconds in SEGMENT_SECONDS] + [("vfr", 1.0), ("vfr", 2.5)],
    indirect=["single"],
)
def test_segmented_run_equals_single_pass(single, engine, tmp_path: Path, seconds: float) -> None:  # type: ignore[no-untyped-def]
    source, single_video, single_json = single
    output, detections = tmp_path / "segmented.mp4", tmp_path / "segmented.json"
    report = veil.anonymize(
        source,
        output,
        detectors=detectors(),
        detections_path=detections,
        segment_seconds=seconds,
        jobs=2,
        engine=engine,
    )
    assert report.frames == 150
    assert_same_as_single_pass(source, output, detections, single_video, single_json)


def test_seams_are_keyframes_and_dts_increase(single, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, _, _ = single
    output = tmp_path / "segmented.mp4"
    veil.anonymize(source, output, detectors=detectors(), segment_seconds=1.0, jobs=2, engine=engine)
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
    dts = [p.dts for p in packets]
    assert all(a < b for a, b in itertools.pairwise(dts))
    keyframe_pts = sorted(p.pts for p in packets if p.is_keyframe)
    index = index_packets(source)
    plan = plan_segments(index, probe(source).time_base, 1.0, FusionSettings())
    assert len(plan) >= 4
    assert keyframe_pts == [index.pts[segment.start] for segment in plan]  # each part starts with its own keyframe
    assert probe(output).frame_count == 150


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):  # type: ignore[no-untyped-def]
    return write_clip(tmp_path_factory.mktemp("short") / "clip.mp4", seconds=4.0)


def test_failed_segment_leaves_nothing(short_clip, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = short_clip
    output, detections = tmp_path / "out.mp4", tmp_path / "out.json"
    with pytest.raises(ModelError, match="detector crashed"):
        veil.anonymize(
            source,
            output,
            detectors=[FailsOnMarker()],
            detections_path=detections,
            segment_seconds=1.0,
            jobs=2,
            engine=engine,
            detect_every=1,
        )
    assert list(tmp_path.iterdir()) == []
    # The pool survives a failed segment and runs the next video.
    report = veil.anonymize(source, output, detectors=detectors(), segment_seconds=2.0, jobs=2, engine=engine)
    assert report.frames == 100 and output.exists()


def test_jobs_alone_keeps_short_videos_single_pass(short_clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "out.mp4"
    report = veil.anonymize(short_clip, output, detectors=detectors(), jobs=2)
    assert "stitch" not in report.timings and report.frames == 100


@pytest.mark.parametrize(("suffix", "keep"), [(".mp4", False), (".mov", True), (".mkv", False)])
def test_rotation_metadata_and_containers_as_single_pass(engine, tmp_path: Path, suffix: str, keep: bool) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "clip.mp4", seconds=2.0, rotation=-90, location=True)
    outputs = {}
    for name, extra in (("single", {}), ("segmented", {"segment_seconds": 1.0, "jobs": 2, "engine": engine})):
        outputs[name] = tmp_path / f"{name}{suffix}"
        veil.anonymize(source, outputs[name], detectors=detectors(), keep_metadata=keep, **extra)
    single, segmented = probe(outputs["single"]), probe(outputs["segmented"])
    assert segmented.rotation == single.rotation == 270
    assert timestamps(outputs["segmented"]) == timestamps(outputs["single"]) == timestamps(source)
    assert audio_seconds(outputs["segmented"]) == pytest.approx(audio_seconds(outputs["single"]), abs=1e-3)

    def tags(path: Path) -> dict[str, str]:
        with av.open(str(path)) as container:
            return {k.lower(): v for k, v in container.metadata.items() if k.lower() != "encoder"}

    assert tags(outputs["segmented"]) == tags(outputs["single"])
    assert ("location" in tags(outputs["segmented"])) == keep
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["clip.mp4", f"single{suffix}", f"segmented{suffix}"])


def test_frames_dir_with_segments(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "clip.mp4", seconds=2.0)
    veil.anonymize(
        source,
        tmp_path / "out.mp4",
        detectors=detectors(),
        frames_dir=tmp_path / "frames",
        segment_seconds=1.0,
        jobs=2,
        engine=engine,
    )
    for folder in ("images", "mosaic"):
        assert sorted(p.name for p in (tmp_path / "frames" / folder).iterdir()) == [f"{i:06d}.png" for i in range(50)]


def test_dead_worker_fails_the_run_and_leaves_nothing(short_clip, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = short_clip
    output = tmp_path / "out.mp4"
    with pytest.raises(veil.VeilError, match="worker process died"):
        veil.anonymize(
            source, output, detectors=[DiesOnMarker()], segment_seconds=1.0, jobs=2, engine=engine, detect_every=1
        )
    assert list(tmp_path.iterdir()) == []
    report = veil.anonymize(source, output, detectors=detectors(), segment_seconds=2.0, jobs=2, engine=engine)
    assert report.frames == 100


class TattooDetector:
    """A custom detector: one box of its own class on every frame it is shown."""

    class_name = "tattoo"

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.of_class(np.array([[40, 30, 90, 70]], np.float32), np.array([0.8], np.float32), "tattoo")


def test_a_custom_class_is_in_the_joined_detections_as_in_a_single_pass(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "in.mp4", seconds=2.0)
    documents = []
    for name, extra in (("single", {}), ("segmented", {"segment_seconds": 1.0})):
        path = tmp_path / f"{name}.json"
        output = tmp_path / f"{name}.mp4"
        report = veil.anonymize(source, output, detectors=[TattooDetector()], detections_path=path, **extra)
        assert ("stitch" in report.timings) == (name == "segmented"), "two segments, joined"
        documents.append(json.loads(path.read_text()))
    single, segmented = ([{k: v for k, v in r.items() if k != "TrackId"} for r in d["CustomLabels"]] for d in documents)
    assert len(single) == 50 and {r["CustomLabel"]["Name"] for r in single} == {"tattoo"}
    assert segmented == single, "the same records, TrackId aside (it restarts per segment)"
