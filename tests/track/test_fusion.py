"""Temporal fusion, stepped frame by frame."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from veil.records import Detections
from veil.track import FusionSettings, TemporalFusion
from veil.track.fusion import _best_pairs


def faces(*boxes: tuple[float, float, float, float], score: float = 0.9) -> Detections:
    return Detections.of_class(np.array(boxes, dtype=np.float32).reshape(-1, 4), np.full(len(boxes), score), "face")


def run(
    per_frame: list[Detections | None],
    settings: FusionSettings,
    cuts: set[int] = frozenset(),  # type: ignore[assignment]
    shifts: list[tuple[float, float]] | None = None,
    glances: set[int] = frozenset(),  # type: ignore[assignment]
) -> list[Detections]:
    """Fuse ``per_frame``; at the frames in ``glances`` the plate detector only glanced (faces never glance)."""
    fusion = TemporalFusion(settings, glancing=("plate",))
    emitted: list[tuple[int, Detections]] = []
    for index, detections in enumerate(per_frame):
        shift = shifts[index] if shifts is not None else (0.0, 0.0)
        glanced = ("plate",) if index in glances else ()
        emitted += fusion.push(index, detections, cut=index in cuts, shift=shift, glanced=glanced)
    emitted += fusion.flush()
    assert [i for i, _ in emitted] == list(range(len(per_frame))), "every frame is emitted once, in order"
    return [d for _, d in emitted]


NONE = Detections.empty()


def test_gap_is_filled_with_interpolated_boxes_marked_inferred() -> None:
    settings = FusionSettings(max_gap=5, lead=0, trail=0, growth_per_frame=0)
    frames = [faces((0, 0, 10, 10))] + [NONE] * 4 + [faces((10, 0, 20, 10))]
    out = run(frames, settings)
    assert all(len(d) == 1 for d in out)
    assert out[0].seen[0] and out[5].seen[0]
    assert not any(d.seen[0] for d in out[1:5])
    np.testing.assert_allclose(out[2].boxes[0], [4, 0, 14, 10])
    assert len({int(d.track_ids[0]) for d in out}) == 1


def test_gap_longer_than_max_gap_is_not_bridged() -> None:
    settings = FusionSettings(max_gap=2, lead=0, trail=0)
    frames = [faces((0, 0, 10, 10))] + [NONE] * 5 + [faces((0, 0, 10, 10))]
    out = run(frames, settings)
    assert [len(d) for d in out] == [1, 0, 0, 0, 0, 0, 1]
    assert out[0].track_ids[0] != out[6].track_ids[0]


def test_coverage_starts_before_first_and_ends_after_last_sighting() -> None:
    settings = FusionSettings(max_gap=1, lead=3, trail=2, growth_per_frame=0)
    frames = [NONE] * 5 + [faces((5, 5, 15, 15))] + [NONE] * 6
    out = run(frames, settings)
    assert [len(d) for d in out] == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(out[2].boxes[0], [5, 5, 15, 15])


def test_single_frame_detection_is_never_dropped() -> None:
    out = run([NONE, faces((1, 1, 4, 4), score=0.11), NONE], FusionSettings(max_gap=3, lead=0, trail=0))
    assert [len(d) for d in out] == [0, 1, 0]


def test_two_objects_keep_separate_tracks_and_classes_do_not_mix() -> None:
    plate = Detections.of_class(np.array([[100, 100, 140, 120]], np.float32), np.array([0.8]), "plate")
    frames = []
    for t in range(6):
        parts = [faces((t, 0, t + 10, 10), (200 - t, 0, 210 - t, 10))]
        if t != 3:
            parts.append(plate)
        frames.append(Detections.merge(parts))
    out = run(frames, FusionSettings(max_gap=2, lead=0, trail=0))
    assert all(len(d) == 3 for d in out), "the plate missed at frame 3 is filled in"
    assert len({int(i) for d in out for i in d.track_ids}) == 3
    assert set(out[3].classes) == {"face", "plate"}


def test_fast_small_object_is_followed_by_centre_distance() -> None:
    """Boxes that never overlap frame to frame still form one track."""
    frames = [faces((t * 9, 0, t * 9 + 8, 8)) for t in range(5)]
    out = run(frames, FusionSettings(max_gap=1, lead=0, trail=0, max_centre_distance=1.5))
    assert len({int(d.track_ids[0]) for d in out}) == 1


def test_memory_is_bounded_by_the_horizon() -> None:
    fusion = TemporalFusion(FusionSettings(max_gap=3, lead=1, trail=1))
    for index in range(1000):
        fusion.push(index, faces((index % 7 * 50, 0, index % 7 * 50 + 10, 10)) if index % 20 == 0 else NONE)
    assert len(fusion._tracks) <= 2


def test_frames_out_of_order_are_rejected() -> None:
    fusion = TemporalFusion()
    fusion.push(0, NONE)
    with pytest.raises(ValueError, match="in order"):
        fusion.push(2, NONE)


def test_frames_not_looked_at_are_covered_between_looks() -> None:
    """Detection every 4th frame: the frames between get interpolated boxes."""
    settings = FusionSettings(max_gap=3, lead=3, trail=3, growth_per_frame=0)
    frames: list[Detections | None] = [faces((2 * i, 0, 2 * i + 10, 10)) if i % 4 == 0 else None for i in range(9)]
    out = run(frames, settings)
    assert all(len(d) == 1 for d in out)
    np.testing.assert_allclose(out[2].boxes[0], [4, 0, 14, 10])
    assert len({int(d.track_ids[0]) for d in out}) == 1


def test_a_cut_ends_tracks_and_no_coverage_reaches_over_it() -> None:
    settings = FusionSettings(max_gap=5, lead=4, trail=4)
    before, after = (0, 0, 10, 10), (1, 1, 11, 11)  # overlapping boxes: one track, were there no cut
    frames = [faces(before)] * 5 + [faces(after)] * 5
    out = run(frames, settings, cuts={5})
    assert all(len(d) == 1 for d in out), "the old box does not trail into the new shot, nor the new lead into the old"
    assert len({int(d.track_ids[0]) for d in out[:5]} | {int(d.track_ids[0]) for d in out[5:]}) == 2
    np.testing.assert_allclose(out[4].boxes[0], before)
    np.testing.assert_allclose(out[5].boxes[0], after)


def test_an_object_first_seen_at_a_cut_is_covered_from_the_cut_only() -> None:
    settings = FusionSettings(max_gap=5, lead=4, trail=0)
    frames: list[Detections | None] = [NONE] * 6 + [faces((0, 0, 10, 10))] + [None] * 3
    out = run(frames, settings, cuts={6})
    assert [len(d) for d in out] == [0] * 6 + [1] * 1 + [0] * 3


def covered_in_place(covered: Detections, box: tuple[float, float, float, float]) -> bool:
    """Whether a cover holds all of ``box`` and is centred on it (grown between looks, not moved)."""
    x1, y1, x2, y2 = box
    return any(
        b[0] <= x1
        and b[1] <= y1
        and b[2] >= x2
        and b[3] >= y2
        and np.allclose(b[:2] + b[2:], (x1 + x2, y1 + y2), atol=1e-3)
        for b in covered.boxes
    )


def test_neighbours_in_a_crowd_keep_their_own_tracks_between_looks() -> None:
    """Three faces side by side, looked at every 4th frame, the middle one missed once:
    no track jumps to a neighbour (interpolating between two faces covers neither)."""
    settings = FusionSettings(max_gap=7, lead=3, trail=3)
    row = [(20 * i, 0, 20 * i + 16, 16) for i in range(3)]
    frames: list[Detections | None] = [None] * 9
    frames[0] = faces(*row, score=0.9)
    frames[4] = faces(row[0], row[2], score=0.9)
    frames[8] = faces(*row, score=0.9)
    out = run(frames, settings)
    for frame in out:
        assert len(frame) == 3
        for box in row:
            assert covered_in_place(frame, box), "each face covered in place in every frame"


def test_a_face_missed_at_a_look_does_not_pass_its_track_down_the_row() -> None:
    """Still faces in a row, looked at every 8th frame (the pipeline's default), 36 px apart:
    within a track's reach of each other, none overlapping. At the second look the left one is
    missed and a new face appears on the right. Pairing every track it can, the matcher would
    hand the left track the middle face, the middle track the new one, and the covers between
    the looks would slide off the faces (measured on a real clip: a man's face uncovered for 7
    frames). Each face must stay covered in place."""
    settings = FusionSettings(max_gap=18, lead=12, trail=14)
    left, middle, new = (0, 0, 24, 24), (36, 0, 60, 24), (72, 0, 96, 24)
    frames: list[Detections | None] = [None] * 17
    frames[0] = faces(left, middle)
    frames[8] = faces(middle, new)
    frames[16] = faces(middle, new)
    out = run(frames, settings)
    for frame in out:
        assert covered_in_place(frame, middle), "the middle face covered in place"
    for frame in out[:8]:
        assert covers(frame, left), "the left face covered until it was missed"


def test_association_makes_as_many_pairs_as_it_can_then_the_best_total_fit() -> None:
    """Against every possible assignment of small random fit matrices, sparse as fusion's are (most
    pairs out of reach, -inf) and with ties: the solver's pairs are the most there can be and,
    among those, the ones with the largest total fit."""
    rng = np.random.default_rng(7)
    for _ in range(400):
        rows, columns = rng.integers(1, 7, size=2)
        fit = rng.uniform(-4, 1, (rows, columns)).round(rng.choice([1, 4]))
        fit[rng.random((rows, columns)) < rng.uniform(0, 0.9)] = -np.inf
        pairs = _best_pairs(fit)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs), "each row and column once"
        assert all(np.isfinite(fit[r, c]) for r, c in pairs), "never a pair out of reach"
        assert (len(pairs), round(sum(fit[r, c] for r, c in pairs), 6)) == _best_by_brute_force(fit)


def _best_by_brute_force(fit: np.ndarray) -> tuple[int, float]:
    """(most pairs, largest total fit among them) over every assignment of ``fit``'s rows to its columns."""
    if fit.shape[0] > fit.shape[1]:
        fit = fit.T
    best = (0, 0.0)
    for columns in itertools.permutations(range(fit.shape[1]), fit.shape[0]):
        values = [fit[r, c] for r, c in enumerate(columns) if np.isfinite(fit[r, c])]
        best = max(best, (len(values), round(sum(values), 6)))
    return best


def test_covers_grow_with_the_frames_to_the_nearest_sighting() -> None:
    """A person walking between looks strays from the straight line between two boxes: an inferred
    cover grows about its centre by growth_per_frame of its size per frame to the nearest sighting,
    up to max_growth; a sighting's own box is exact."""
    settings = FusionSettings(max_gap=9, lead=6, trail=6, growth_per_frame=0.05, max_growth=0.15)
    frames: list[Detections | None] = [None] * 16
    frames[5] = faces((0, 0, 20, 20))
    frames[15] = faces((0, 0, 20, 20))
    out = run(frames, settings)
    sides = [float(d.boxes[0][2] - d.boxes[0][0]) for d in out]
    # lead: 5..1 frames before the first sighting; between: 1..4, 5, 4..1 frames to the nearest
    assert sides == pytest.approx(
        [23.0, 23.0, 23.0, 22.0, 21.0, 20.0, 21.0, 22.0, 23.0, 23.0, 23.0, 23.0, 23.0, 22.0, 21.0, 20.0]
    )
    for covered in out:
        np.testing.assert_allclose((covered.boxes[0][:2] + covered.boxes[0][2:]) / 2, [10, 10], atol=1e-5)
    assert out[5].seen[0] and out[15].seen[0]


def covers(covered: Detections, box: tuple[float, float, float, float]) -> bool:
    """Whether one of the covered boxes holds all of ``box``."""
    x1, y1, x2, y2 = box
    return any(b[0] <= x1 and b[1] <= y1 and b[2] >= x2 and b[3] >= y2 for b in covered.boxes)


def test_a_face_stays_covered_when_the_camera_jerks_between_looks() -> None:
    """Looks at frames 0 and 8 see the face in place; between them the camera jerks the picture
    30 px right (frame 2) and back (frame 6). The straight line between the sightings stays put
    and leaves the face half uncovered; following the camera keeps it covered."""
    settings = FusionSettings(max_gap=7, lead=0, trail=0)
    face = (100.0, 100.0, 140.0, 140.0)
    frames: list[Detections | None] = [faces(face)] + [None] * 7 + [faces(face)]
    shifts = [(0.0, 0.0)] * 9
    shifts[2], shifts[6] = (30.0, 0.0), (-30.0, 0.0)
    where = [(face[0] + 30, face[1], face[2] + 30, face[3]) if 2 <= i < 6 else face for i in range(9)]
    straight = run(frames, settings)
    assert not any(covers(straight[i], where[i]) for i in range(2, 6)), "the straight line misses the jerk"
    followed = run(frames, settings, shifts=shifts)
    for index, covered in enumerate(followed):
        assert len(covered) == 1
        assert covers(covered, where[index]), index
        assert covers(covered, tuple(straight[index].boxes[0])), "a cover only grows"


def test_leading_and_trailing_boxes_move_with_a_pan() -> None:
    """One sighting at frame 4 of a face the camera pans across, 6 px left and 2 px down a frame:
    the covers before and after it follow the face across the picture."""
    settings = FusionSettings(max_gap=0, lead=4, trail=4)
    step = (-6.0, 2.0)

    def where(index: int) -> tuple[float, float, float, float]:
        dx, dy = step[0] * (index - 4), step[1] * (index - 4)
        return (200 + dx, 100 + dy, 230 + dx, 130 + dy)

    frames: list[Detections | None] = [None] * 4 + [faces(where(4))] + [None] * 4
    still = run(frames, settings)
    assert not any(covers(still[i], where(i)) for i in (0, 1, 7, 8)), "a box held in place misses a pan"
    panned = run(frames, settings, shifts=[step] * 9)
    assert all(covers(covered, where(index)) for index, covered in enumerate(panned))
    np.testing.assert_allclose(panned[4].boxes[0], where(4))


def test_the_camera_path_is_forgotten_with_the_tracks() -> None:
    fusion = TemporalFusion(FusionSettings(max_gap=3, lead=1, trail=5))
    for index in range(1000):
        fusion.push(index, faces((0, 0, 10, 10)) if index % 3 == 0 else None, shift=(1.0, -1.0))
    settings = fusion.settings
    assert len(fusion._path._shifts) <= settings.horizon + max(settings.trail, settings.max_gap + 1) + 1


def plates(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections.of_class(np.array(boxes, dtype=np.float32).reshape(-1, 4), np.full(len(boxes), 0.9), "plate")


CLOSE_ONLY = FusionSettings(max_gap=2, lead=1, trail=1, close_only_reach=4)


def test_an_object_only_close_looks_see_is_covered_longer_before_and_after() -> None:
    """A small plate seen at the close look of frame 6 and missed by every glance (frames 2 and 10): it may
    have been there since the close look before, so its cover reaches close_only_reach further each way."""
    frames: list[Detections | None] = [NONE, None, NONE, None, None, None, plates((5, 5, 15, 10))] + [None] * 3
    frames += [NONE, None, None, None, None, None]
    out = run(frames, CLOSE_ONLY, glances={2, 10})
    assert [len(d) for d in out] == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]


def test_an_object_a_glance_saw_last_gets_the_usual_trail() -> None:
    """The same plate, large enough that the glance of frame 8 saw it too: the glances would see it leave."""
    seen = plates((5, 5, 15, 10))
    frames: list[Detections | None] = [NONE, None, NONE, None, None, None, seen, None, seen] + [None] * 7
    out = run(frames, CLOSE_ONLY, glances={2, 8})
    assert [len(d) for d in out] == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_an_object_a_glance_saw_first_gets_the_usual_lead() -> None:
    """A plate first seen by the glance of frame 6 would have been seen by the glance before, had it been there."""
    seen = plates((5, 5, 15, 10))
    frames: list[Detections | None] = [NONE, None, NONE, None, None, None, seen, None, seen] + [None] * 7
    out = run(frames, CLOSE_ONLY, glances={2, 6})
    assert [len(d) for d in out] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_a_class_that_never_glances_never_gets_the_close_only_reach() -> None:
    """Faces are looked at closely at every look, so a face missed around its one sighting was not there."""
    frames: list[Detections | None] = [NONE, None, NONE, None, None, None, faces((5, 5, 15, 15))] + [None] * 9
    out = run(frames, CLOSE_ONLY, glances={2, 10})
    assert [len(d) for d in out] == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
