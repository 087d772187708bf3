"""Corrections on covers (veil.records.review) and rendering covers without detecting (veil.pipeline.covers)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import veil
from tests.media_factory import make_clip
from veil.media import VideoReader
from veil.pipeline import AnonymizeOptions
from veil.pipeline.covers import render_covers
from veil.records import Detections
from veil.records.review import (
    CORRECTION_TRACK_BASE,
    Correction,
    Cover,
    apply_corrections,
    doubtful,
    read_covers,
    style_of,
    summarize,
)
from veil.samples import sample_frame

SIZE = (320, 180)
FRAMES = 16


def face(frame: int, seen: bool = True, track: int = 7) -> Cover:
    return Cover(track, "face", (0.1, 0.1, 0.3, 0.4), 0.9 if seen else 0.4, seen)


def covers(track: int = 7, frames: range = range(4, 9)) -> dict[int, list[Cover]]:
    return {i: [face(i, seen=i % 2 == 0, track=track)] for i in frames}


def test_summary_folds_frames_into_runs_of_seen_and_inferred() -> None:
    (track,) = summarize(covers())
    assert (track.first, track.last, track.seen_frames, track.inferred_frames) == (4, 8, 3, 2)
    assert track.runs == [(4, 8, True)]  # the frames between the detector's looks count as seen on the timeline
    assert track.confidence == pytest.approx(0.9)
    assert track.best_frame == 4


def test_long_tracks_are_a_few_runs_and_long_inferred_stretches_stay() -> None:
    seen = {*range(0, 400, 8), *range(600, 1000, 8)}
    frames = {i: [face(i, seen=i in seen)] for i in range(1010)}
    (track,) = summarize(frames)
    assert track.runs == [(0, 392, True), (393, 599, False), (600, 992, True), (993, 1009, False)]
    assert (track.seen_frames, track.inferred_frames) == (100, 910)


def test_a_ten_minute_video_is_a_small_timeline() -> None:
    """15 000 frames (10 minutes at 25 fps), 12 objects, the detector looking at every 8th frame."""
    frames = {
        i: [face(i, seen=i % 8 == 0, track=t) for t in range(12) if t * 1000 <= i < t * 1000 + 4000]
        for i in range(15_000)
    }
    tracks = summarize(frames)
    assert len(tracks) == 12 and all(len(track.runs) <= 2 for track in tracks)
    assert len(json.dumps([track.to_json() for track in tracks])) < 8_000


def test_doubtful_moments_flag_short_tracks_low_confidence_and_long_inferred_stretches() -> None:
    short = summarize(covers(track=1, frames=range(3)))
    inferred = summarize({i: [face(i, seen=i == 20, track=2)] for i in range(20, 40)})
    unsure = summarize({i: [Cover(3, "plate", (0.1, 0.1, 0.2, 0.2), 0.3, True)] for i in range(50, 60)})
    found = [
        (moment["frame"], moment["track_id"], moment["reason"]) for moment in doubtful([*short, *inferred, *unsure])
    ]
    assert found == [(0, 1, "short track"), (21, 2, "long inferred stretch"), (50, 3, "low confidence")]
    assert doubtful(summarize(covers(frames=range(30)))) == []


def test_delete_and_undo_by_leaving_out() -> None:
    frames = {**covers(track=7), 5: [face(5, track=7), face(5, track=8)]}
    deleted = apply_corrections(frames, [Correction("delete_track", track_id=7)], FRAMES)
    assert {c.track_id for found in deleted.values() for c in found} == {8}
    assert apply_corrections(frames, [], FRAMES) == frames


def test_track_range_trims_and_extends_with_the_held_box() -> None:
    result = apply_corrections(covers(), [Correction("track_range", track_id=7, start=6, end=11)], FRAMES)
    assert sorted(result) == [6, 7, 8, 9, 10, 11]
    assert all(not result[i][0].seen and result[i][0].box == result[8][0].box for i in (9, 10, 11))


def test_regions_and_inverted_masks() -> None:
    region = Correction("region", id=3, start=2, end=4, box=(0.5, 0.5, 0.6, 0.7))
    mask = Correction("mask", id=4, start=10, end=99, box=(0.25, 0.25, 0.75, 0.75), invert=True)
    result = apply_corrections({}, [region, mask], FRAMES)
    assert sorted(result) == [2, 3, 4, *range(10, FRAMES)]
    assert result[3] == [Cover(CORRECTION_TRACK_BASE + 3, "region", (0.5, 0.5, 0.6, 0.7), 1.0, True)]
    strips = [cover.box for cover in result[12]]
    assert len(strips) == 4 and (0.0, 0.0, 1.0, 0.25) in strips and (0.75, 0.25, 1.0, 0.75) in strips
    assert style_of([Correction("style", style="blur"), Correction("style", style="solid")]) == "solid"


def test_corrections_round_trip_as_json() -> None:
    correction = Correction("mask", id=2, start=1, end=5, box=(0.1, 0.2, 0.3, 0.4), invert=True)
    assert Correction.from_json(json.loads(json.dumps(correction.to_json())), 2) == correction


def decode(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.to_rgb() for frame in reader]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("covers")
    content = lambda index: sample_frame(index, SIZE, frames=FRAMES)
    return make_clip(folder / "clip.mp4", size=SIZE, frames=FRAMES, rate=Fraction(25), content=content)


def pictures(path: Path) -> list[np.ndarray]:
    """The decoded pictures as coded (planar YUV), to compare to the level."""
    with VideoReader(path) as reader:
        return [frame.yuv for frame in reader]


def same_pictures(first: Path, again: Path) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(pictures(first), pictures(again), strict=True))


# Lossless (CRF 0, no bit-rate cap), so that the decoded pictures are exactly what was covered. The bytes
# are no test: libx264 on several threads does not always make the same stream from the same pictures.
LOSSLESS = {"crf": 0, "max_rate_factor": None}


def test_rendering_the_first_runs_covers_covers_the_same_pixels(clip: Path, tmp_path: Path) -> None:
    options = AnonymizeOptions.build(classes="face", **LOSSLESS)
    veil.anonymize(clip, tmp_path / "first.mp4", options=options, detections_path=tmp_path / "first.json")
    document = json.loads((tmp_path / "first.json").read_text())
    assert document["Faces"], "the sample clip's face was not found"
    render_covers(clip, tmp_path / "again.mp4", read_covers(document), options=options, detections=tmp_path / "a.json")
    assert same_pictures(tmp_path / "first.mp4", tmp_path / "again.mp4")
    assert json.loads((tmp_path / "a.json").read_text()) == document


class HairlineDetector:
    """Finds the same 72 small faces on every frame, each edge within 0.0003 px of a whole pixel.

    The detections document keeps six decimals of the frame (0.0002 px of this
    one), so such an edge can read back on the other side of its pixel.
    """

    class_name = "face"

    def __init__(self) -> None:
        rng = np.random.default_rng(3)
        corners = np.array([(8 + 25 * column, 6 + 28 * row) for column in range(12) for row in range(6)], np.float32)
        boxes = np.concatenate([corners, corners + 14], axis=1)
        self.boxes = boxes + rng.uniform(-0.0003, 0.0003, boxes.shape).astype(np.float32)

    def detect(self, image: np.ndarray) -> Detections:
        return Detections(self.boxes, np.full(len(self.boxes), 0.9), np.full(len(self.boxes), "face"))


def test_a_rerender_covers_the_same_pixels_where_box_edges_lie_a_hair_off_whole_pixels(
    clip: Path, tmp_path: Path
) -> None:
    options = AnonymizeOptions.build(face_padding=0.0, min_box_size=0, detect_every=1, **LOSSLESS)
    first, again = tmp_path / "first.mp4", tmp_path / "again.mp4"
    veil.anonymize(clip, first, options=options, detectors=[HairlineDetector()], detections_path=tmp_path / "d.json")
    document = json.loads((tmp_path / "d.json").read_text())
    assert len(document["Faces"]) == 72 * FRAMES
    render_covers(clip, again, read_covers(document), options=options, detections=tmp_path / "a.json")
    assert same_pictures(first, again)
    assert json.loads((tmp_path / "a.json").read_text()) == document


def test_a_region_is_covered_exactly_as_drawn_on_its_frames_only(clip: Path, tmp_path: Path) -> None:
    region = Correction("region", id=1, start=4, end=9, box=(0.5, 0.5, 0.75, 1.0))
    frames = apply_corrections({}, [region], FRAMES)
    render_covers(clip, tmp_path / "out.mp4", frames, options=AnonymizeOptions.build(), detections=tmp_path / "d.json")
    original, output = decode(clip), decode(tmp_path / "out.mp4")
    inside, outside = np.s_[92:178, 162:238], np.s_[0:88, 0:158]
    change = [float(np.abs(o[inside].astype(int) - c[inside]).mean()) for o, c in zip(original, output, strict=True)]
    # Re-encoding alone changes a few levels; a mosaic over the sample's texture changes tens.
    assert all(change[i] > 15 for i in range(4, 10)), change
    assert all(change[i] < 6 for i in [*range(4), *range(10, FRAMES)]), change
    assert all(np.abs(o[outside].astype(int) - c[outside]).mean() < 6 for o, c in zip(original, output, strict=True))
    labels = json.loads((tmp_path / "d.json").read_text())["CustomLabels"]
    assert [record["FrameIndex"] for record in labels] == list(range(4, 10))
    assert labels[0]["CustomLabel"]["Name"] == "region"


def audio_levels(path: Path, rate: float, frames: int) -> list[float]:
    """The RMS of the sound during each video frame (all streams' first channel)."""
    import av

    with av.open(str(path)) as container:
        chunks = [
            (float(frame.pts * frame.time_base), frame.to_ndarray().reshape(-1, frame.samples)[0], frame.sample_rate)
            for frame in container.decode(audio=0)
        ]
    levels = []
    for index in range(frames):
        start, end = index / rate, (index + 1) / rate
        picked = [
            samples[(start <= t0 + np.arange(len(samples)) / sr) & (t0 + np.arange(len(samples)) / sr < end)]
            for t0, samples, sr in chunks
        ]
        values = np.concatenate(picked).astype(np.float64)
        levels.append(float(np.sqrt(np.mean(values**2))) if len(values) else 0.0)
    return levels


@pytest.mark.parametrize("bleep", [False, True])
def test_audio_is_muted_or_bleeped_over_its_frames_only(tmp_path: Path, bleep: bool) -> None:
    clip = make_clip(tmp_path / "talk.mp4", size=SIZE, frames=25, rate=Fraction(25), audio=[("aac", 48000, 1)])
    correction = Correction("audio", start=10, end=14, bleep=bleep)
    render_covers(clip, tmp_path / "out.mp4", {}, options=AnonymizeOptions.build(), audio=[(10, 14, bleep)])
    before, after = audio_levels(clip, 25, 25), audio_levels(tmp_path / "out.mp4", 25, 25)
    assert correction.to_json()["kind"] == "audio" and min(before[1:24]) > 0.01
    for index in range(1, 24):  # the first and last frames share AAC's priming and padding
        if index in range(11, 14):
            expected = 0.2 / np.sqrt(2) if bleep else 0.0  # a sine at 0.2 of full scale, or silence
            assert after[index] == pytest.approx(expected, abs=0.02), (index, after)
        elif index not in (9, 10, 14, 15):  # AAC smears a few ms across the edges
            assert after[index] == pytest.approx(before[index], rel=0.25, abs=0.01), (index, after)
