"""Acceptance 2: segments on Ray, staged through an object store, make the video a single pass makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import veil
from tests.ray_engine.helpers import RecordingSpec, traffic
from tests.segments.compare import assert_same_as_single_pass, single_pass_reference
from tests.segments.fakes import detectors, write_clip
from veil.errors import InputError
from veil.media import index_packets, probe
from veil.parallel import make_engine
from veil.parallel.plan import plan_segments
from veil.parallel.ray import RayEngine
from veil.parallel.staging import Scratch
from veil.storage import LocalStore
from veil.track import FusionSettings


@pytest.fixture(scope="module", params=["cfr", "vfr"])
def single(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    return single_pass_reference(tmp_path_factory.mktemp("ray-segments"), vfr=request.param == "vfr")


def recording_engine(folder: Path) -> tuple[RayEngine, Path]:
    log = folder / "store.log"
    engine = make_engine("ray", 2, scratch=Scratch(RecordingSpec(str(folder / "store"), str(log)), "scratch"))
    assert isinstance(engine, RayEngine)
    return engine, log


@pytest.mark.parametrize(("single", "seconds"), [("cfr", 1.0), ("cfr", 2.5), ("vfr", 1.0)], indirect=["single"])
def test_segments_on_ray_equal_a_single_pass(single, ray_cluster, tmp_path: Path, seconds: float) -> None:  # type: ignore[no-untyped-def]
    source, single_video, single_json = single
    output, detections = tmp_path / "segmented.mp4", tmp_path / "segmented.json"
    engine, log = recording_engine(tmp_path)
    with engine:
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

    # Every byte went through the store by key: the driver put the source once; each segment's
    # worker (another process) fetched it and put back its video and detections; the driver
    # fetched those, then removed everything it had staged.
    segments = len(plan_segments(index_packets(source), probe(source).time_base, seconds, FusionSettings()))
    assert segments >= 2
    records, driver = traffic(log), os.getpid()
    source_key = [key for pid, action, key in records if (pid, action) == (driver, "upload")]
    assert len(source_key) == 1 and source_key[0].endswith("-source.mp4")
    fetched = [pid for pid, action, key in records if action == "download" and key == source_key[0]]
    assert len(fetched) == segments and driver not in fetched
    parts = {key for pid, action, key in records if action == "upload" and pid != driver}
    assert sorted(key.rsplit("/", 1)[1] for key in parts) == sorted(["detections.json", "video.mp4"] * segments)
    assert {key for pid, action, key in records if (pid, action) == (driver, "download")} == parts
    assert {key for pid, action, key in records if (pid, action) == (driver, "delete")} == parts | set(source_key)
    assert list(LocalStore(tmp_path / "store").list_objects("scratch")) == []


def test_a_short_video_still_runs_on_the_cluster(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A remote engine gets every video: one segment, not a pass on the driver's machine."""
    source = write_clip(tmp_path / "clip.mp4", seconds=1.0)
    engine, log = recording_engine(tmp_path)
    with engine:
        report = veil.anonymize(source, tmp_path / "out.mp4", detectors=detectors(), engine=engine)
    assert report.frames == 25 and probe(tmp_path / "out.mp4").frame_count == 25
    assert [action for pid, action, _ in traffic(log) if pid != os.getpid()] == ["download", "upload"]


def test_errors_that_a_retry_cannot_fix_fail_at_once_with_their_type(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    class NotAVideo:  # raises what a broken input raises; defined here, pickled by value to the workers
        class_name = "face"

        def __init__(self, log: str) -> None:
            self.log = log

        def detect(self, image):  # type: ignore[no-untyped-def]
            with open(self.log, "a") as out:
                out.write("attempt\n")
            raise InputError("this is not a video")

    source = write_clip(tmp_path / "clip.mp4", seconds=1.0)
    attempts = tmp_path / "attempts.log"
    engine, _ = recording_engine(tmp_path)
    with engine, pytest.raises(InputError, match="this is not a video"):
        veil.anonymize(source, tmp_path / "out.mp4", detectors=[NotAVideo(str(attempts))], engine=engine)
    assert attempts.read_text() == "attempt\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attempts.log", "clip.mp4", "store", "store.log"]
