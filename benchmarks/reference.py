"""A slow, exhaustive reference of the faces and plates in the dev clips, for real.py's recall.

    .venv/bin/python benchmarks/reference.py [CLIP ...] [--data DIR] [--threads N]
    .venv/bin/python benchmarks/reference.py CLIP --limit N --out /tmp/ref     # quick check

With no CLIP, every clip in --data (../shared/data/videos). Writes ``<out>/<clip stem>.json``
(default out: benchmarks/reference/, kept in the repository; gzipped as ``.json.gz`` when over
1 MB) and prints a line per clip. Deterministic: the same clip, settings and models give the
same file (checked: 12 frames twice, 2 threads and 1, byte-identical).

How long: about 1 hour for the five clips (1,796 frames) on a quiet 2-core machine, an estimate
from --limit runs on a shared machine at load 6 (720p: 9.5 s a frame there, 608x1080: 6 s,
640x360: 1.7 s; about three times faster alone). Size: about 0.5 MB in all, an estimate (the
crowded Paris clip about 330 kB, 1.6 kB a frame; the others a few kB to tens of kB).

How each frame is searched (veil's own models, fp32, not the int8 ones veil runs by default):

  faces   CenterFace (veil.detect.CenterFaceDetector, no max_side) on the whole frame at 0.5x
          (very large faces), at 1x, and on 2x upscaled tiles (at most TILE px a side of the upscaled
          frame overlapping by OVERLAP px), so small faces are seen at twice their size
  plates  YOLOv8 plate model (veil.detect.YoloPlateDetector) on the whole frame shrunk to 640 px
          and at full size (its own NMS merges them); no upscaled pass: a plate too small for
          the full-size pass is too small to read, and the 2x pass would triple the run's time
  A box from a tile that touches the tile's inner edge is dropped (the face is cut; it lies whole
  in the neighbouring tile, the overlap being larger than the faces that need the 2x pass); the
  rest are merged by non-maximum suppression per class (CenterFace's 0.3 IoU, the plate
  detector's 0.45). Score threshold DETECT_THRESHOLD (0.05, below veil's default 0.1).

Then tracked: veil.track.TemporalFusion with its default FusionSettings (max gap 10, lead 4,
trail 6 frames), every frame pushed with its detections (detect_every=1: none of the widening
veil's pipeline adds for the frames between looks), cuts from veil's LookSchedule (fusion never
carries a track across a cut). A low threshold finds false faces too, so a track is kept only
if its best sighting scores at least CONFIRM (faces 0.3, plates 0.3): hysteresis, a low
threshold to follow an object, a higher one to believe it. On the first 12 frames of the stage
clip the two real faces peak at 0.83-0.9 and the 24 rejected tracks (dark background, a hand,
the back of a head, the channel logo as a plate) at 0.28 or less; on the toll booth the plate
peaks at 0.88; in the first 5 frames of the Paris crowd 36 of 573 tracks pass, and those seen by
eye lie on heads. The price: a blurred face that never scores 0.3 at 2x (many 10-20 px heads in
that clip) is not in the reference, so recall under 16 px is measured on the faces a detector can
be sure of, not on every head.

Each box is stored with a source: ``s`` seen in that frame, ``i`` interpolated between two
sightings (the object was missed for a few frames: still there), ``x`` extrapolated by the
default lead/trail (before the first or after the last sighting: possibly not in the picture
any more). real.py scores recall on ``s`` and ``i`` boxes only; ``x`` boxes only widen the
region that collateral leaves out.

File: {"clip", "width", "height" (displayed frame), "frames", "limit", "settings", "columns",
"boxes": one list per frame of [x1, y1, x2, y2, class, score, track, source]}, pixel
coordinates of the displayed frame rounded to integers, scores to 2 decimals.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, VIDEOS, clip_paths
from veil.detect import CenterFaceDetector, DetectorSettings, YoloPlateDetector
from veil.detect.base import nms
from veil.detect.centerface import NMS_IOU as FACE_NMS_IOU
from veil.media import VideoReader, probe
from veil.media.orientation import display_size, to_display
from veil.pipeline.schedule import LookSchedule, ScheduleSettings
from veil.records import FACE, PLATE, Detections
from veil.track import FusionSettings, TemporalFusion

DETECT_THRESHOLD = 0.05
CONFIRM = {FACE: 0.3, PLATE: 0.3}
UPSCALE = 2
TILE = 1536  # upscaled px: bounds the model's input (memory); a 720p frame makes 2 tiles of 1376x1440
OVERLAP = 192  # upscaled px: 96 px of the frame, more than twice the largest face the 2x pass is for (< 32 px)
EDGE = 2  # upscaled px: a tile box this near an inner tile edge is cut by the tile
WHOLE = 100_000  # a plate "side" no frame reaches: the plate model runs at the frame's own size
OUT = ROOT / "benchmarks" / "reference"
GZIP_ABOVE = 1_000_000


class Searcher:
    """Every face and plate of one frame at several scales, fp32."""

    def __init__(self, classes: tuple[str, ...], threads: int | None) -> None:
        settings = DetectorSettings(
            classes=classes,
            precision="fp32",
            threads=threads,
            face_threshold=DETECT_THRESHOLD,
            plate_threshold=DETECT_THRESHOLD,
        )
        self.classes = settings.classes
        # As veil.detect.build_detector makes them, but at the sizes chosen here.
        self.face = CenterFaceDetector(
            settings.face_model,
            threshold=settings.face_threshold,
            max_side=None,
            threads=settings.threads,
            precision=settings.precision,
        )
        self.plate = YoloPlateDetector(
            settings.plate_model,
            threshold=settings.plate_threshold,
            sides=(640, WHOLE),
            threads=settings.threads,
            precision=settings.precision,
        )

    def search(self, image: np.ndarray) -> Detections:
        """All boxes of ``image`` (RGB, displayed orientation) in its pixels."""
        height, width = image.shape[:2]
        parts = []
        if FACE in self.classes:
            big = cv2.resize(image, (width * UPSCALE, height * UPSCALE), interpolation=cv2.INTER_LINEAR)
            half = cv2.resize(image, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
            found = [_scaled(self.face.detect(half), width / half.shape[1], height / half.shape[0])]
            found += [self.face.detect(image), _tiled(self.face.detect, big)]
            parts.append(_merge(found, FACE_NMS_IOU))
        if PLATE in self.classes:
            parts.append(self.plate.detect(image))
        return Detections.merge(parts).inside(width, height)


def _scaled(found: Detections, sx: float, sy: float) -> Detections:
    boxes = found.boxes * np.array([sx, sy, sx, sy], np.float32)
    return Detections(boxes, found.scores, found.classes)


def _merge(found: list[Detections], iou: float) -> Detections:
    merged = Detections.merge(found)
    return merged[nms(merged.boxes, merged.scores, iou)]


def tile_spans(size: int) -> list[tuple[int, int]]:
    """(start, end) of the fewest tiles of at most TILE px that cover ``size`` px, neighbours overlapping
    by at least OVERLAP px, all of one length."""
    if size <= TILE:
        return [(0, size)]
    count = math.ceil((size - OVERLAP) / (TILE - OVERLAP))
    length = math.ceil((size + (count - 1) * OVERLAP) / count)
    starts = np.linspace(0, size - length, count).round().astype(int)
    return [(int(start), int(start) + length) for start in starts]


def _tiled(detect, image: np.ndarray) -> Detections:  # type: ignore[no-untyped-def]
    """``detect`` on overlapping tiles of the upscaled ``image``; boxes in the original frame's pixels."""
    height, width = image.shape[:2]
    found = []
    for y, y_end in tile_spans(height):
        for x, x_end in tile_spans(width):
            crop = image[y:y_end, x:x_end]
            got = detect(np.ascontiguousarray(crop))
            boxes = got.boxes
            # Inner edges only: the picture's own border cuts nothing.
            cut = np.zeros(len(got), bool)
            if x > 0:
                cut |= boxes[:, 0] <= EDGE
            if y > 0:
                cut |= boxes[:, 1] <= EDGE
            if x + crop.shape[1] < width:
                cut |= boxes[:, 2] >= crop.shape[1] - EDGE
            if y + crop.shape[0] < height:
                cut |= boxes[:, 3] >= crop.shape[0] - EDGE
            kept = got[~cut]
            shifted = (kept.boxes + np.array([x, y, x, y], np.float32)) / UPSCALE
            found.append(Detections(shifted, kept.scores, kept.classes))
    return Detections.merge(found)


def frames_of(clip: Path, limit: int | None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(index, stored image, displayed image) of each frame, as veil decodes them."""
    info = probe(clip)
    with VideoReader(clip, info) as reader:
        for frame in reader:
            if limit is not None and frame.index >= limit:
                return
            yield frame.index, frame.image, to_display(frame.image, info.rotation)


def track(clip: Path, searcher: Searcher, limit: int | None) -> list[Detections]:
    """Per frame, the fused boxes of every track (before the confirmation filter)."""
    fusion = TemporalFusion(FusionSettings())
    schedule = LookSchedule(ScheduleSettings(detect_every=1))
    out: list[Detections] = []
    started = time.perf_counter()
    size = (0, 0)
    for index, stored, shown in frames_of(clip, limit):
        size = (shown.shape[1], shown.shape[0])
        cut = schedule.decide(index, stored).cut
        out.extend(d.inside(*size) for _, d in fusion.push(index, searcher.search(shown), cut=cut))
        if index % 25 == 24:
            rate = (index + 1) / (time.perf_counter() - started)
            print(f"  {clip.name}: {index + 1} frames, {rate:.2f} fps", file=sys.stderr, flush=True)
    out.extend(d.inside(*size) for _, d in fusion.flush())
    return out


def rows(per_frame: list[Detections]) -> tuple[list[list[list]], dict[str, int]]:
    """The stored rows per frame, confirmed tracks only, with each box's source; and counts of tracks."""
    peak: dict[int, float] = {}
    seen_frames: dict[int, list[int]] = {}
    for index, found in enumerate(per_frame):
        for track_id, score, seen in zip(found.track_ids, found.scores, found.seen, strict=True):
            if seen:
                peak[int(track_id)] = max(peak.get(int(track_id), 0.0), float(score))
                seen_frames.setdefault(int(track_id), []).append(index)
    classes = {int(t): str(c) for found in per_frame for t, c in zip(found.track_ids, found.classes, strict=True)}
    kept = {t for t, best in peak.items() if best >= CONFIRM[classes[t]]}
    out = []
    for index, found in enumerate(per_frame):
        frame_rows = []
        for box, cls, score, track_id, seen in zip(
            found.boxes, found.classes, found.scores, found.track_ids, found.seen, strict=True
        ):
            tid = int(track_id)
            if tid not in kept:
                continue
            first, last = seen_frames[tid][0], seen_frames[tid][-1]
            source = "s" if seen else ("i" if first < index < last else "x")
            x1, y1, x2, y2 = (round(float(v)) for v in box)
            if x2 > x1 and y2 > y1:
                frame_rows.append([x1, y1, x2, y2, str(cls), round(float(score), 2), tid, source])
        out.append(frame_rows)
    return out, {"tracks": len(peak), "confirmed": len(kept)}


def write(path: Path, header: dict, boxes: list[list[list]]) -> Path:
    """The reference as JSON, one frame per line (diffable); gzipped (no timestamp) when large."""
    lines = ",\n".join(json.dumps(frame, separators=(",", ":")) for frame in boxes)
    head = json.dumps(header, indent=1, sort_keys=True)[:-2]
    text = f'{head},\n "boxes": [\n{lines}\n]}}\n'
    for old in (path.with_suffix(".json"), path.with_suffix(".json.gz")):
        old.unlink(missing_ok=True)
    if len(text) <= GZIP_ABOVE:
        target = path.with_suffix(".json")
        target.write_text(text)
        return target
    target = path.with_suffix(".json.gz")
    with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as packed:
        packed.write(text.encode())
    return target


def settings() -> dict:
    return {
        "models": "veil's CenterFace and YOLOv8 plate models, fp32",
        "face_scales": [0.5, 1, UPSCALE],
        "plate_sides": [640, "full"],
        "tiles": {"upscale": UPSCALE, "tile": TILE, "overlap": OVERLAP},
        "detect_threshold": DETECT_THRESHOLD,
        "confirm": CONFIRM,
        "fusion": FusionSettings().model_dump(),
        "cuts": "veil.pipeline.schedule.LookSchedule, detect_every=1",
    }


def make(clip: Path, out: Path, limit: int | None, threads: int | None) -> None:
    info = probe(clip)
    width, height = display_size((info.width, info.height), info.rotation)
    started = time.perf_counter()
    fused = track(clip, Searcher((FACE, PLATE), threads), limit)
    boxes, counts = rows(fused)
    header = {
        "clip": clip.name,
        "width": width,
        "height": height,
        "frames": len(boxes),
        "limit": limit,
        "settings": settings(),
        "columns": ["x1", "y1", "x2", "y2", "class", "score", "track", "source"],
        "sources": {"s": "seen", "i": "interpolated between sightings", "x": "extrapolated: lead/trail"},
        **counts,
    }
    target = write(out / clip.name, header, boxes)
    seconds = time.perf_counter() - started
    n = sum(len(frame) for frame in boxes)
    print(
        f"{clip.name}: {len(boxes)} frames in {seconds:.0f} s ({len(boxes) / seconds:.2f} fps), "
        f"{counts['confirmed']} of {counts['tracks']} tracks confirmed, {n} box-frames -> "
        f"{target} ({target.stat().st_size / 1e3:.0f} kB)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path, help="default: every clip in --data")
    parser.add_argument("--data", type=Path, default=VIDEOS, help="folder of clips (default ../shared/data/videos)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N frames (quick checks)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the reference files (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    args = parser.parse_args()
    if args.limit is not None and args.out == OUT:
        parser.error(f"--limit needs --out: {OUT} keeps references of whole clips")
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in args.clips or clip_paths(args.data):
        make(clip.resolve(), args.out, args.limit, args.threads)


if __name__ == "__main__":
    main()
