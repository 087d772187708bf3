"""The margin rule, checked on fusion alone: a segment's cover equals the single pass's, seam frames included.

Fast and exhaustive-ish: many random scenes (objects entering and leaving,
moving, missed at random, some never matching the same track twice), many seams,
several fusion settings, a still and a handheld camera. Each segment is fused
from its ``first`` frame with no history, exactly as a worker does (its first
frame has no frame before it to measure a camera shift from), and must give
every frame it owns the same boxes, scores, classes and seen flags as one pass
over the whole video.
"""

from __future__ import annotations

import numpy as np
import pytest

from veil.parallel.plan import margins
from veil.records import Detections
from veil.track import FusionSettings, TemporalFusion


def scene(seed: int, frames: int, objects: int, miss: float) -> list[Detections]:
    rng = np.random.default_rng(seed)
    per_frame: list[list[tuple[np.ndarray, float, str]]] = [[] for _ in range(frames)]
    for _ in range(objects):
        start, length = int(rng.integers(0, frames)), int(rng.integers(1, frames))
        box = np.array([*rng.uniform(0, 600, 2)], np.float32)
        size = rng.uniform(10, 60, 2).astype(np.float32)
        velocity = rng.normal(0, 4, 2).astype(np.float32)
        name = str(rng.choice(["face", "plate"]))
        for frame in range(start, min(frames, start + length)):
            if rng.random() < miss:
                continue
            top_left = box + velocity * (frame - start)
            per_frame[frame].append((np.concatenate([top_left, top_left + size]), float(rng.uniform(0.1, 1)), name))
    result = []
    for items in per_frame:
        if not items:
            result.append(Detections.empty())
            continue
        result.append(
            Detections(
                np.stack([b for b, _, _ in items]),
                np.array([s for _, s, _ in items], np.float32),
                np.array([n for _, _, n in items], dtype=object),
            )
        )
    return result


Shift = tuple[float, float]


def handheld(seed: int, frames: int) -> list[Shift]:
    """A camera's shift per frame: a shaky drift and, now and then, a jerk of tens of pixels."""
    rng = np.random.default_rng(1000 + seed)
    shifts = rng.normal(0, 2.5, (frames, 2)) + rng.normal(0, 2, 2)
    jerks = rng.random(frames) < 0.08
    shifts[jerks] += rng.normal(0, 30, (int(jerks.sum()), 2))
    return [(float(dx), float(dy)) for dx, dy in shifts]


def fuse(
    detections: list[Detections],
    settings: FusionSettings,
    shifts: list[Shift] | None = None,
    glanced: list[bool] | None = None,
) -> list[Detections]:
    """Fuse from the first frame on; ``shifts[0]`` is not known (no frame before), as in a run.
    ``glanced``: per frame, whether the plate detector only glanced (plates glance, faces never do)."""
    fusion = TemporalFusion(settings, glancing=("plate",))
    out: dict[int, Detections] = {}
    for index, found in enumerate(detections):
        shift = shifts[index] if shifts and index else (0.0, 0.0)
        looked = ("plate",) if glanced and glanced[index] else ()
        out.update(fusion.push(index, found, shift=shift, glanced=looked))
    out.update(fusion.flush())
    return [out[i] for i in range(len(detections))]


SMALL = 30.0  # px: a plate box less tall than this is only found by close looks


def seen_by_run(detections: list[Detections], first: int, close_every: int) -> tuple[list[Detections], list[bool]]:
    """What a run starting at frame ``first`` sees of ``detections[first:]`` when plates glance: a close look
    at its first frame and every ``close_every``-th frame, glances elsewhere, which miss the small plates."""
    seen, glanced = [], []
    for index in range(first, len(detections)):
        found = detections[index]
        glance = index != first and index % close_every != 0
        if glance and len(found):
            heights = found.boxes[:, 3] - found.boxes[:, 1]
            found = found[(found.classes != "plate") | (heights >= SMALL)]
        seen.append(found)
        glanced.append(glance)
    return seen, glanced


def key(covered: Detections) -> list[tuple]:
    return sorted(
        (str(c), tuple(np.round(b, 4)), round(float(s), 6), bool(v))
        for b, s, c, v in zip(covered.boxes, covered.scores, covered.classes, covered.seen, strict=False)
    )


def mismatches(
    settings: FusionSettings,
    objects: int,
    miss: float,
    before: int,
    after: int,
    seeds: range | list[int] = range(8),
    camera: bool = False,
    close_every: int | None = None,
) -> list[tuple[int, int, int]]:
    """(seed, segment start, frame) wherever a segment with these margins covers a frame differently.
    ``close_every``: plates glance between close looks (:func:`seen_by_run`), in each run its own way."""
    frames = 120
    found = []
    for seed in seeds:
        detections = scene(seed, frames, objects, miss)
        shifts = handheld(seed, frames) if camera else None
        seen, glanced = seen_by_run(detections, 0, close_every) if close_every else (detections, None)
        whole = [key(c) for c in fuse(seen, settings, shifts, glanced)]
        for start in range(5, frames - 5, 13):
            end = min(frames, start + 25)
            first, stop = max(0, start - before), min(frames, end + after)
            seen, glanced = (
                seen_by_run(detections[:stop], first, close_every) if close_every else (detections[first:stop], None)
            )
            part = fuse(seen, settings, shifts[first:stop] if shifts else None, glanced)
            found += [(seed, start, index) for index in range(start, end) if key(part[index - first]) != whole[index]]
    return found


SETTINGS = [FusionSettings(), FusionSettings(max_gap=3, lead=8, trail=2), FusionSettings(max_gap=0, lead=0, trail=0)]


@pytest.mark.parametrize("camera", [False, True], ids=["still", "handheld"])
@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "short-gap", "none"])
@pytest.mark.parametrize(("objects", "miss"), [(3, 0.2), (8, 0.4), (15, 0.5)], ids=["few", "several", "crowded"])
def test_segments_fuse_like_one_pass(settings: FusionSettings, objects: int, miss: float, camera: bool) -> None:
    assert mismatches(settings, objects, miss, *margins(settings), camera=camera) == []


def test_smaller_margins_do_not_suffice() -> None:
    """The check has teeth: without the margin after, or before, seams differ; and a margin before
    that only reaches the sightings a frame's cover uses, without time for the tracks to settle,
    differs in crowded scenes (association history matters, not only the sightings)."""
    settings = FusionSettings()
    before, after = margins(settings)
    assert mismatches(settings, 3, 0.2, 0, after, seeds=range(3))
    assert mismatches(settings, 3, 0.2, before, 0, seeds=range(3))
    assert mismatches(
        settings, 15, 0.5, max(settings.trail, settings.max_gap + 1), after, seeds=[17, 22]
    )  # scenes where it does


GLANCING = FusionSettings(max_gap=13, lead=7, trail=9, close_only_reach=8)  # the pipeline's defaults, widened


@pytest.mark.parametrize("camera", [False, True], ids=["still", "handheld"])
@pytest.mark.parametrize(("objects", "miss"), [(3, 0.2), (8, 0.4), (15, 0.5)], ids=["few", "several", "crowded"])
def test_segments_fuse_like_one_pass_when_plates_glance(objects: int, miss: float, camera: bool) -> None:
    """A segment looks closely at its first frame, where one pass may only have glanced; small plates
    get fusion's close-only reach. The margin before, grown by the frames between close looks, absorbs both."""
    close_every = 16
    before, after = margins(GLANCING, close_every)
    assert mismatches(GLANCING, objects, miss, before, after, camera=camera, close_every=close_every) == []


def test_glancing_needs_the_longer_look_ahead() -> None:
    """The check has teeth: a look-ahead that leaves out the close-only reach (a small plate's longer
    lead) differs at seams."""
    before, _ = margins(GLANCING, 16)
    _, short_after = margins(GLANCING.model_copy(update={"close_only_reach": 0}), 16)
    assert mismatches(GLANCING, 15, 0.5, before, short_after, close_every=16)
