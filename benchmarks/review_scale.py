"""What the review's tracks endpoint costs on a big job: a 10-minute 1080p 25 fps crowd.

    .venv/bin/python benchmarks/review_scale.py [--minutes 10] [--records 450000] [--repeat 3]

Builds a detections document shaped like a long crowded video (veil's own writer,
``veil.records.DetectionLog``): thousands of face tracks and some plates that
enter and leave, seen on every 8th frame (the default look schedule) unless the
detector missed them, inferred between, plus a few short false tracks. Then it
times, step by step, what ``GET /v1/jobs/ID/tracks`` does with it
(``ReviewService.tracks`` and ``_summaries`` in ``veil/service/review.py``):
reading and parsing the JSON, reading the covers, summarizing the tracks and
doubtful moments, the frame times, and the response as FastAPI encodes it. The
first request does all of it; later ones (the summaries are cached by the
document's ETag) only build and encode the response. Prints a table and writes
``benchmarks/results/review_scale.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from fastapi.encoders import jsonable_encoder  # noqa: E402

from _common import cpu_model  # noqa: E402
from veil.records import DetectionLog, Detections, VideoMetadata  # noqa: E402
from veil.records.review import doubtful, read_covers, summarize  # noqa: E402

SIZE = (1920, 1080)
FPS = 25
DETECT_EVERY = 8
CUT_EVERY_S = 20
"""A cut every 20 s: the response lists them, and a doubtful moment after each."""

Row = tuple[tuple[float, float, float, float], float, str, int, bool]


def _track(rng: np.random.Generator, frames: int) -> tuple[int, int, str, np.ndarray, float]:
    """One object: its first frame, length, class, box on its first frame and how often the detector misses it."""
    if rng.random() < 0.05:  # a false detection: a few frames, then gone
        length, miss = int(rng.integers(1, 5)), 0.0
    else:
        length, miss = int(min(frames, max(5, rng.lognormal(np.log(150), 0.8)))), float(rng.uniform(0, 0.4))
    plate = rng.random() < 0.1
    height = rng.uniform(20, 40) if plate else rng.uniform(16, 140)
    width = height * 4 if plate else height * 0.8
    x, y = rng.uniform(0, SIZE[0] - width), rng.uniform(0, SIZE[1] - height)
    box = np.array([x, y, x + width, y + height])
    return int(rng.integers(0, frames - length + 1)), length, "plate" if plate else "face", box, miss


def crowd(frames: int, records: int, seed: int = 11) -> list[list[Row]]:
    """Rows by frame until ``records`` boxes are placed: boxes drift, seen on looks the detector did not miss."""
    rng = np.random.default_rng(seed)
    by_frame: list[list[Row]] = [[] for _ in range(frames)]
    placed, track_id = 0, 0
    while placed < records:
        track_id += 1
        first, length, class_name, box, miss = _track(rng, frames)
        across, down = rng.normal(0, 2), rng.normal(0, 0.5)  # pixels per frame
        step = np.array([across, down, across, down])
        score = float(rng.uniform(0.2, 0.99))
        for k in range(length):
            frame = first + k
            looked = frame % DETECT_EVERY == 0 or k in (0, length - 1)
            seen = looked and rng.random() >= miss
            moved = np.clip(box + k * step, 0, [SIZE[0], SIZE[1], SIZE[0], SIZE[1]])
            if moved[2] - moved[0] < 2 or moved[3] - moved[1] < 2:
                break
            by_frame[frame].append((tuple(moved), score, class_name, track_id, seen or k == 0))
            placed += 1
    return by_frame


def write_document(by_frame: list[list[Row]], path: Path) -> None:
    metadata = VideoMetadata("h264", round(len(by_frame) * 1000 / FPS), "mp4", float(FPS), *SIZE)
    with DetectionLog() as log:
        for frame, rows in enumerate(by_frame):
            if rows:
                boxes, scores, classes, tracks, seen = zip(*rows, strict=True)
                detections = Detections(np.array(boxes), np.array(scores), np.array(classes, object), tracks, seen)
                log.add(frame, round(frame * 1000 / FPS), detections, SIZE)
        log.write(path, metadata)


def frame_times(document: dict[str, Any]) -> dict[int, int]:
    """As ``ReviewService._summaries`` keeps them: each frame's timestamp."""
    return {
        int(record["FrameIndex"]): int(record["Timestamp"])
        for section in ("Faces", "CustomLabels")
        for record in document.get(section, [])
    }


def response(tracks: list[dict[str, Any]], moments: list[dict[str, Any]], frames: int) -> bytes:
    """As ``ReviewService.tracks`` then the endpoint: the body the browser receives, encoded as FastAPI does."""
    cuts = list(range(CUT_EVERY_S * FPS, frames, CUT_EVERY_S * FPS))
    after_cuts = [{"frame": frame, "track_id": -1, "reason": "just after a cut"} for frame in cuts]
    body = {
        "job_id": "bench",
        "frames": frames,
        "fps": float(FPS),
        "width": SIZE[0],
        "height": SIZE[1],
        "tracks": [{**summary, "covered": True} for summary in tracks],
        "doubtful": sorted([*moments, *after_cuts], key=lambda moment: moment["frame"]),
        "cuts": cuts,
        "cuts_pending": False,
    }
    encoded = jsonable_encoder(body)
    return json.dumps(encoded, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def memory_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux): VmRSS now, VmHWM its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Start VmHWM again from the current RSS, so the peak measured is the endpoint's, not the document builder's."""
    Path("/proc/self/clear_refs").write_text("5")


def timed(step: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    seconds: list[float] = []
    for _ in range(repeat):
        result = None  # the last result is freed first: the peak is one request's, as in the service
        started = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - started)
    return result, seconds


def measure(path: Path, frames: int, repeat: int) -> tuple[list[tuple[str, list[float]]], dict[str, Any]]:
    data, read_s = timed(path.read_bytes, repeat)
    document, parse_s = timed(lambda: json.loads(data), repeat)
    covers, covers_s = timed(lambda: read_covers(document), repeat)
    tracks, summarize_s = timed(lambda: summarize(covers), repeat)
    rest, rest_s = timed(lambda: ([t.to_json() for t in tracks], doubtful(tracks)), repeat)
    _, times_s = timed(lambda: frame_times(document), repeat)
    body, response_s = timed(lambda: response(*rest, frames), repeat)
    records = sum(len(document[section]) for section in ("Faces", "CustomLabels"))
    sizes = {
        "records": records,
        "tracks": len(tracks),
        "runs": sum(len(t.runs) for t in tracks),
        "doubtful": len(rest[1]),
        "document_bytes": len(data),
        "response_bytes": len(body),
        "response_gzip_bytes": len(gzip.compress(body, 6)),
    }
    steps = [("read the document", read_s), ("json.loads", parse_s), ("read_covers", covers_s)]
    steps += [("summarize", summarize_s), ("to_json + doubtful", rest_s), ("frame times", times_s)]
    steps.append(("response: build + encode", response_s))
    return steps, sizes


def report(
    steps: list[tuple[str, list[float]]], sizes: dict[str, Any], built_s: float, rss: tuple[float, float]
) -> None:
    print(f"{'step':<28}{'median s':>10}{'min s':>10}")
    for name, seconds in steps:
        print(f"{name:<28}{statistics.median(seconds):>10.3f}{min(seconds):>10.3f}")
    first = sum(statistics.median(seconds) for _, seconds in steps)
    print(f"{'first request (all above)':<28}{first:>10.3f}")
    print(f"{'later request (cached)':<28}{statistics.median(steps[-1][1]):>10.3f}")
    print(f"records {sizes['records']}, tracks {sizes['tracks']}, runs {sizes['runs']}, doubtful {sizes['doubtful']}")
    document, body = sizes["document_bytes"] / 1e6, sizes["response_bytes"] / 1e6
    print(f"document {document:.1f} MB; the browser receives {body:.2f} MB")
    print(f"({sizes['response_gzip_bytes'] / 1e6:.2f} MB if gzipped; veil serve does not compress)")
    print(f"document built in {built_s:.1f} s; RSS {rss[0]:.0f} MB before the steps, peak {rss[1]:.0f} MB during them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--records", type=int, default=450_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frames = round(args.minutes * 60 * FPS)
    print(f"{args.minutes:g} min of {SIZE[0]}x{SIZE[1]} at {FPS} fps; {cpu_model()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = Path(folder) / "detections.json"
        write_document(crowd(frames, args.records), path)
        built_s = time.perf_counter() - started
        reset_peak()
        before = memory_mb("VmRSS")
        steps, sizes = measure(path, frames, args.repeat)
    rss = (before, memory_mb("VmHWM"))
    report(steps, sizes, built_s, rss)
    out = ROOT / "benchmarks" / "results" / "review_scale.json"
    seconds = {name: [round(s, 4) for s in values] for name, values in steps}
    out.write_text(
        json.dumps({"machine": cpu_model(), "frames": frames, "seconds": seconds, **sizes, "rss_mb": rss}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
