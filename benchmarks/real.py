"""The headline benchmark: veil on every real dev clip, at its own resolution, against the floor and deface.

    .venv/bin/python benchmarks/reference.py          # once (slow); keeps benchmarks/reference/<clip>.json
    .venv/bin/python benchmarks/real.py [--clips NAME ...] [--limit N] [--skip-deface] [--option KEY=VALUE ...]
        [--repeat N] [--data DIR] [--json OUT]

Every clip in ../shared/data/videos (``--clips``: only those, by file name or stem), one run after
another, each tool in a fresh process on the same file:

  floor           PyAV decode -> libx264 ``veryfast`` CRF 20, video only: a plain transcode
                  (frames handed from decoder to encoder without conversion, input timestamps kept)
  veil            veil.anonymize(CLIP, OUT, detections_path=OUT.json) with defaults (faces + plates),
                  what ``veil anonymize CLIP -o OUT --detections OUT.json`` runs
  deface          deface 1.5.0 (benchmarks/.venv-deface, made on first use) at its defaults,
  deface-640x360  and with --scale 640x360; ``--skip-deface`` leaves both out

Columns:
  wall s          wall-clock seconds of the process, start-up and model loading included (model files
                  are prepared once before the runs: "model cache warm"); with ``--repeat N`` the median
                  of N runs of the floor and of veil, run alternately (the JSON keeps every wall)
  veil/floor      floor wall s / veil wall s: the speed ratio (1 = as fast as a plain transcode);
                  likewise veil/deface
  CPU s           user + system seconds of every thread of the process (wait4), median of the runs:
                  the work done, which a busy shared machine disturbs far less than the wall clock;
                  veil/floor CPU is their ratio
  TTFF s          time to first frame: from just before veil's process is started to the first call
                  of anonymize's progress callback (the first frame redacted and handed to the
                  encoder; fusion's look-ahead means about a dozen frames were detected by then);
                  ``import s``, in the JSON, is the part spent before veil was imported
  peak RSS MB     ru_maxrss of the process (wait4; children included)
  out/in          output file size / input file size (veil keeps the audio, the floor does not)
  stage seconds   Report.timings: seconds of work per stage; stages overlap in threads
  recall          against the stored reference (reference.py): a reference box (seen or
                  interpolated, not lead/trail) is covered in a frame when at least --cover (90 %)
                  of its pixels lie inside veil's covered region, the union of every box of veil's
                  --detections JSON in that frame grown as veil grows it before redacting (face
                  padding 0.2, plate 0.1, at least 12 px a side: RedactSettings' defaults). Faces by
                  reference box height in px (<16, 16-32, 32-64, >=64); plates in all.
                  Two tables: on every seen or interpolated box of the reference's tracks (which keep
                  boxes down to score 0.05: blurred, turned, half-hidden heads), and on its sure
                  sightings only (seen, score >= 0.3), the faces a detector can be sure of.
  >=32 frames     frames in which at least one reference face of 32 px or more is not covered
  longest run     the longest run of consecutive frames in which one such face (one reference
                  track) stays uncovered
  off reference   veil's box-frames (boxes of its --detections JSON, per frame) that overlap no
                  reference box of any class or source, of all its box-frames, per class: a rough
                  count of false covers (the channel logo covered as a plate on the stage clip)
  collateral      mean over frames of the share of the picture changed (luma differs from the input by
                  more than 12 grey levels after a 1-px Gaussian, the rule of recall.py) outside every
                  reference box (all classes and sources) grown to twice its size: what a tool covers
                  that is not a face or plate. The floor's value is the coding noise every tool pays.
                  Left out for a tool whose output has another frame count than the input.

``--limit N`` runs every tool on the first N frames (a re-encoded copy, CRF 18, no audio) for
quick checks of the harness; recall then compares those frames. Prints markdown tables and writes
JSON (default benchmarks/results/real.json).

Order: reference.py once (about 1 hour; again whenever its settings or veil's models change,
then commit benchmarks/reference/), then real.py (any number of times).

How long, an estimate (the --limit checks ran on a shared machine, where start-up dominates; the
per-frame speeds are RESULTS.md's and issue 10's, scaled by pixels): a full run of the five clips
(1,796 frames) about 10 minutes on a quiet 2-core machine: deface at its default size about 4,
deface at 640x360 about 3, veil under 2, the floor, decoding for collateral and start-ups the
rest; --skip-deface about 3 minutes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFACE_VERSION,
    ROOT,
    VIDEOS,
    bucket_names,
    bucket_of,
    changed_pixels,
    clip_paths,
    count_frames,
    cpu_model,
    decode_gray,
    deface_command,
    iou_matrix,
    run_process,
)
from veil.media import probe
from veil.redact import RedactSettings, expand_boxes

FACE_BUCKETS: tuple[tuple[float, float], ...] = ((0, 16), (16, 32), (32, 64), (64, 1e9))
LARGE = 32  # px: the faces that must never stay uncovered
SCORED = ("s", "i")  # reference sources recall is measured on: seen and interpolated
SURE = 0.3  # a reference sighting this sure (and seen) is a face or plate a detector can be sure of
REFERENCE = ROOT / "benchmarks" / "reference"
CHANGE = 12.0
TOOLS = ("floor", "veil", "deface", "deface-640x360")
STAGES = ("decode", "schedule", "detect_face", "detect_plate", "track", "redact", "encode")  # pipeline order

TRANSCODE = """
import json, sys, av
src, dst, crf, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
n = 0
with av.open(src) as source, av.open(dst, "w") as target:
    video = source.streams.video[0]
    video.thread_type = "AUTO"
    out = target.add_stream("libx264", rate=video.average_rate)
    out.width, out.height, out.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
    out.codec_context.time_base = video.time_base
    out.options = {"crf": crf, "preset": "veryfast"}
    for frame in source.decode(video):
        if limit and n >= limit:
            break
        frame.pict_type = av.video.frame.PictureType.NONE
        target.mux(out.encode(frame))
        n += 1
    target.mux(out.encode())
print(json.dumps({"frames": n}))
"""

PREPARE_MODELS = """
import veil.detect
veil.detect.build_detectors(veil.detect.DetectorSettings())
"""

VEIL = """
import json, sys, time
src, dst, detections, launched = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
options = json.loads(sys.argv[5])
import veil
from veil.pipeline.heap import pin_malloc_thresholds
pin_malloc_thresholds()  # as the veil command does
imported = time.time()
first = []
def progress(done, total):
    if not first:
        first.append(time.time())
report = veil.anonymize(src, dst, detections_path=detections, progress=progress, **options)
print(json.dumps({"frames": report.frames, "detected_frames": report.detected_frames, "cuts": report.cuts,
                  "timings": report.timings, "detections": report.detections, "covered": report.covered,
                  "ttff_s": round(first[0] - launched, 3), "import_s": round(imported - launched, 3),
                  "wall_inside_s": round(report.wall_seconds, 3)}))
"""


def commands(tool: str, src: Path, folder: Path, options: dict) -> list[str]:
    """The command line of one tool; its output is ``folder/<tool>.mp4`` (``options``: veil's keywords)."""
    out = str(folder / f"{tool}.mp4")
    if tool == "floor":
        return [sys.executable, "-c", TRANSCODE, str(src), out, "20", "0"]
    if tool == "veil":
        return [
            sys.executable,
            "-c",
            VEIL,
            str(src),
            out,
            str(folder / "veil.json"),
            repr(time.time()),
            json.dumps(options),
        ]
    scale = ["--scale", "640x360"] if tool == "deface-640x360" else []
    return [*deface_command(), str(src), "-o", out, *scale]


def run_tool(tool: str, src: Path, folder: Path, size_in: int, options: dict) -> dict | None:
    """Run one tool; its row (None when deface cannot run here)."""
    try:
        command = commands(tool, src, folder, options)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"  {tool}: cannot run here ({error}); left out", flush=True)
        return None
    wall, cpu, rss, stdout = run_process(command)
    output = folder / f"{tool}.mp4"
    row = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(rss, 1),
        "size_ratio": round(output.stat().st_size / size_in, 3),
        "frames_out": count_frames(output),
    }
    if tool == "veil":
        row.update(json.loads(stdout.strip().splitlines()[-1]))
    print(
        f"  {tool:<15} {wall:7.1f} s  CPU {cpu:7.1f} s  peak RSS {rss:7.1f} MB  {row['frames_out']} frames out",
        flush=True,
    )
    return row


def load_reference(clip: Path, folder: Path = REFERENCE) -> dict | None:
    for path in (folder / f"{clip.stem}.json", folder / f"{clip.stem}.json.gz"):
        if path.exists():
            text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
            document: dict = json.loads(text)
            return document
    return None


VeilBoxes = tuple[np.ndarray, list[str]]
"""One frame of veil's detections JSON: boxes (n, 4) in displayed px, and their classes."""


def veil_boxes(detections: Path, frames: int) -> tuple[list[VeilBoxes], tuple[int, int]]:
    """Per frame, the boxes of veil's --detections JSON, and the displayed frame size."""
    document = json.loads(detections.read_text())
    meta = document["VideoMetadata"]
    size = (int(meta["FrameWidth"]), int(meta["FrameHeight"]))
    boxes: list[list[list[float]]] = [[] for _ in range(frames)]
    classes: list[list[str]] = [[] for _ in range(frames)]
    for section, cls in (("Faces", "face"), ("CustomLabels", "plate")):
        for record in document.get(section, []):
            if record["FrameIndex"] >= frames:
                continue
            box = (record.get("Face") or record["CustomLabel"]["Geometry"])["BoundingBox"]
            x1, y1 = box["Left"] * size[0], box["Top"] * size[1]
            boxes[record["FrameIndex"]].append([x1, y1, x1 + box["Width"] * size[0], y1 + box["Height"] * size[1]])
            classes[record["FrameIndex"]].append(cls)
    return [(np.array(b, np.float32).reshape(-1, 4), c) for b, c in zip(boxes, classes, strict=True)], size


def regions_of(found: VeilBoxes, size: tuple[int, int]) -> np.ndarray:
    """The pixels veil covered for these boxes: each grown by its class's padding, as veil redacts."""
    settings = RedactSettings()
    padding = {"face": settings.face_padding, "plate": settings.plate_padding}
    boxes, classes = found
    grown = [np.empty((0, 4), np.int32)]
    for cls, pad in padding.items():
        chosen = boxes[np.array([c == cls for c in classes], bool)]
        grown.append(expand_boxes(chosen, pad, settings.min_box_size, size))
    return np.concatenate(grown)


def off_reference(found: VeilBoxes, rows: list) -> dict[str, int]:
    """veil's boxes of this frame that overlap no reference box at all (any class or source), by class."""
    boxes, classes = found
    if not classes:
        return {}
    reference = np.array([row[:4] for row in rows], np.float32).reshape(-1, 4)
    alone = iou_matrix(boxes, reference).max(axis=1) <= 0 if len(reference) else np.ones(len(boxes), bool)
    return dict(Counter(c for c, a in zip(classes, alone, strict=True) if a))


def covered_mask(regions: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), bool)
    for x1, y1, x2, y2 in regions:
        mask[y1:y2, x1:x2] = True
    return mask


class RecallTally:
    """Covered and total reference boxes by class and face height; uncovered runs of large faces."""

    def __init__(self) -> None:
        self.face_hit = np.zeros(len(FACE_BUCKETS), int)
        self.face_total = np.zeros(len(FACE_BUCKETS), int)
        self.plate = [0, 0]  # hit, total
        self.large_frames: set[int] = set()
        self.runs: dict[int, tuple[int, int]] = {}  # track -> (last uncovered frame, run length)
        self.longest = 0

    def add(self, frame: int, row: list, covered: bool) -> None:
        _, y1, _, y2, cls, _, track, _ = row
        if cls != "face":
            self.plate[0] += covered
            self.plate[1] += 1
            return
        bucket = int(bucket_of(np.array([y2 - y1]), FACE_BUCKETS)[0])
        self.face_total[bucket] += 1
        self.face_hit[bucket] += covered
        if covered or y2 - y1 < LARGE:
            return
        self.large_frames.add(frame)
        last, length = self.runs.get(track, (-2, 0))
        length = length + 1 if last == frame - 1 else 1
        self.runs[track] = (frame, length)
        self.longest = max(self.longest, length)

    def result(self) -> dict:
        return {
            "face_recall": _ratio(self.face_hit.sum(), self.face_total.sum()),
            "face_by_height": {
                name: {"recall": _ratio(h, n), "hit": int(h), "total": int(n)}
                for name, h, n in zip(bucket_names(FACE_BUCKETS), self.face_hit, self.face_total, strict=True)
            },
            "plate_recall": _ratio(*self.plate),
            "plate_hit_total": self.plate,
            "frames_large_face_uncovered": len(self.large_frames),
            "longest_uncovered_run": self.longest,
        }


def _ratio(hit: float, total: float) -> float | None:
    return round(float(hit) / float(total), 4) if total else None


def recall(reference: dict, detections: Path, cover: float) -> dict:
    """veil's coverage of the reference's seen and interpolated boxes, and veil's box-frames off the
    reference (see the module's docstring)."""
    frames = len(reference["boxes"])
    found, size = veil_boxes(detections, frames)
    tally, sure = RecallTally(), RecallTally()
    alone: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for frame, (rows, boxes) in enumerate(zip(reference["boxes"], found, strict=True)):
        mask = covered_mask(regions_of(boxes, size), size)
        for row in rows:
            if row[7] in SCORED:
                x1, y1, x2, y2 = row[:4]
                covered = float(mask[y1:y2, x1:x2].mean()) >= cover
                tally.add(frame, row, covered)
                if row[7] == "s" and row[5] >= SURE:
                    sure.add(frame, row, covered)
        alone.update(off_reference(boxes, rows))
        total.update(boxes[1])
    off = {cls: [alone[cls], total[cls]] for cls in sorted(total)}
    return {
        "frames": frames,
        "cover": cover,
        **tally.result(),
        "sure": sure.result(),
        "veil_box_frames_off_reference": off,
    }


def far_from_reference(rows: list, shape: tuple[int, int]) -> np.ndarray:
    """Pixels outside every reference box grown to twice its size (about its centre)."""
    far = np.ones(shape, bool)
    for x1, y1, x2, y2, *_ in rows:
        w, h = x2 - x1, y2 - y1
        far[max(y1 - h // 2, 0) : max(y2 + (h + 1) // 2, 0), max(x1 - w // 2, 0) : max(x2 + (w + 1) // 2, 0)] = False
    return far


def collateral(src: Path, outputs: dict[str, Path], reference: dict) -> dict[str, float]:
    """Mean share of the picture changed away from reference objects, per output (see the docstring)."""
    frames = len(reference["boxes"])
    names = list(outputs)
    streams = [decode_gray(src)] + [decode_gray(outputs[n]) for n in names]
    shares: list[list[float]] = [[] for _ in names]
    for rows in reference["boxes"][:frames]:
        images = [next(s) for s in streams]
        ref = images[0]
        far = far_from_reference(rows, ref.shape)
        for index, out in enumerate(images[1:]):
            if out.shape != ref.shape:  # deface's writer may scale to multiples of 16
                out = cv2.resize(out, ref.shape[::-1], interpolation=cv2.INTER_AREA)
            shares[index].append(float((changed_pixels(ref, out, CHANGE) & far).mean()))
    for stream in streams:
        stream.close()
    return {name: round(float(np.mean(s)), 5) for name, s in zip(names, shares, strict=True)}


def prepare_input(clip: Path, folder: Path, limit: int | None) -> Path:
    """The clip itself, or with ``limit`` its first frames re-encoded (CRF 18, no audio)."""
    if not limit:
        return clip
    trimmed = folder / f"input{clip.suffix if clip.suffix == '.mp4' else '.mp4'}"
    command = [sys.executable, "-c", TRANSCODE, str(clip), str(trimmed), "18", str(limit)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return trimmed


def run_clip(clip: Path, args: argparse.Namespace) -> dict:
    """Every tool on one clip, then recall and collateral against its reference."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        src = prepare_input(clip, folder, args.limit)
        info = probe(src)
        frames, size_in = count_frames(src), src.stat().st_size
        print(f"{clip.name}: {frames} frames {info.width}x{info.height}, {size_in / 1e6:.1f} MB", flush=True)
        tools = [t for t in TOOLS if not (args.skip_deface and t.startswith("deface"))]
        rows = timed_rows(src, folder, size_in, args)
        rows |= {t: row for t in tools[2:] if (row := run_tool(t, src, folder, size_in, args.option)) is not None}
        result: dict = {"clip": clip.name, "size": [info.width, info.height], "frames": frames}
        result["input_bytes"], result["tools"] = size_in, rows
        if "veil" in rows:
            result["veil_over_floor"] = _speed(rows, "floor")
            result["veil_over_floor_cpu"] = round(rows["floor"]["cpu_s"] / rows["veil"]["cpu_s"], 3)
            result["veil_over_deface"] = _speed(rows, "deface")
            result["veil_over_deface_640x360"] = _speed(rows, "deface-640x360")
        reference = load_reference(clip, args.reference)
        if reference is None:
            print(f"  no reference for {clip.name} in {args.reference}: run reference.py first", flush=True)
            return result
        reference["boxes"] = reference["boxes"][:frames]
        if len(reference["boxes"]) < frames:
            print(f"  the reference covers the first {len(reference['boxes'])} frames only", flush=True)
        if "veil" in rows:
            result["recall"] = recall(reference, folder / "veil.json", args.cover)
        same = {t: folder / f"{t}.mp4" for t, row in rows.items() if row["frames_out"] == frames}
        if info.rotation == 0 and same:
            result["collateral"] = collateral(src, same, reference)
        return result


def timed_rows(src: Path, folder: Path, size_in: int, args: argparse.Namespace) -> dict[str, dict]:
    """The floor's and veil's rows, each run ``--repeat`` times, alternating (floor, veil, floor, ...), so
    that a slow spell of a shared machine hits both: wall and TTFF are the medians, every wall is kept."""
    runs: dict[str, list[dict]] = {"floor": [], "veil": []}
    for _ in range(args.repeat):
        for tool, kept in runs.items():
            kept.append(run_tool(tool, src, folder, size_in, args.option))
    rows = {}
    for tool, kept in runs.items():
        row = dict(kept[-1])
        row["walls_s"] = [r["wall_s"] for r in kept]
        row["wall_s"] = statistics.median(row["walls_s"])
        row["cpus_s"] = [r["cpu_s"] for r in kept]
        row["cpu_s"] = statistics.median(row["cpus_s"])
        if "ttff_s" in row:
            row["ttff_s"] = round(statistics.median(r["ttff_s"] for r in kept), 2)
        rows[tool] = row
    return rows


def _speed(rows: dict, other: str) -> float | None:
    return round(rows[other]["wall_s"] / rows["veil"]["wall_s"], 3) if other in rows else None


def _cell(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_speed(results: list[dict]) -> None:
    print(
        "\n| clip | size | frames | floor s | veil s | veil/floor | deface s | deface-640x360 s | veil/deface "
        "| veil/deface-640x360 | floor CPU s | veil CPU s | veil/floor CPU | TTFF s | peak RSS MB | out/in |"
    )
    print("|" + "---|" * 16)
    for r in results:
        tools = r["tools"]
        wall = {t: tools[t]["wall_s"] if t in tools else None for t in TOOLS}
        veil = tools.get("veil", {})
        print(
            f"| {r['clip']} | {r['size'][0]}x{r['size'][1]} | {r['frames']} | {_cell(wall['floor'], 1)} "
            f"| {_cell(wall['veil'], 1)} | {_cell(r.get('veil_over_floor'), 3)} | {_cell(wall['deface'], 1)} "
            f"| {_cell(wall['deface-640x360'], 1)} | {_cell(r.get('veil_over_deface'), 3)} "
            f"| {_cell(r.get('veil_over_deface_640x360'), 3)} | {_cell(tools.get('floor', {}).get('cpu_s'), 1)} "
            f"| {_cell(veil.get('cpu_s'), 1)} | {_cell(r.get('veil_over_floor_cpu'), 3)} | {_cell(veil.get('ttff_s'))} "
            f"| {_cell(veil.get('peak_rss_mb'), 0)} | {_cell(veil.get('size_ratio'), 3)} |"
        )


def print_stages(results: list[dict]) -> None:
    found = {s for r in results for s in r["tools"].get("veil", {}).get("timings", {})}
    stages = [s for s in STAGES if s in found] + sorted(found - set(STAGES))
    print(
        f"\nveil stage seconds (Report.timings; stages overlap in threads)\n| clip | {' | '.join(stages)} "
        "| frames detected | cuts |"
    )
    print("|" + "---|" * (3 + len(stages)))
    for r in results:
        veil = r["tools"].get("veil")
        if veil:
            cells = " | ".join(_cell(veil["timings"].get(s), 1) for s in stages)
            print(f"| {r['clip']} | {cells} | {veil['detected_frames']}/{r['frames']} | {veil['cuts']} |")


def print_recall(results: list[dict], cover: float, sure: bool = False) -> None:
    names = bucket_names(FACE_BUCKETS)
    which = f"the seen reference boxes scoring >= {SURE}" if sure else "every seen or interpolated reference box"
    print(f"\nrecall against {which} (covered: >= {cover:.0%} of the box inside veil's grown boxes)")
    print(
        f"| clip | faces | {' | '.join(names)} | plates | frames with a >=32 px face uncovered | longest run "
        "| veil box-frames off reference: faces | plates |"
    )
    print("|" + "---|" * (8 + len(names)))
    for r in results:
        rec = r.get("recall")
        if rec is not None and sure:
            rec = {**rec, **rec["sure"]}
        if rec is None:
            continue
        buckets = " | ".join(
            f"{_cell(b['recall'], 3)} ({b['hit']}/{b['total']})" for b in rec["face_by_height"].values()
        )
        print(
            f"| {r['clip']} | {_cell(rec['face_recall'], 3)} | {buckets} | {_cell(rec['plate_recall'], 3)} "
            f"({rec['plate_hit_total'][0]}/{rec['plate_hit_total'][1]}) | {rec['frames_large_face_uncovered']} "
            f"| {rec['longest_uncovered_run']} | {_off(rec, 'face')} | {_off(rec, 'plate')} |"
        )


def _off(rec: dict, cls: str) -> str:
    alone, total = rec["veil_box_frames_off_reference"].get(cls, [0, 0])
    return f"{alone}/{total}"


def print_collateral(results: list[dict]) -> None:
    print("\ncollateral: mean share of the picture changed away from reference objects")
    print(f"| clip | {' | '.join(TOOLS)} |")
    print("|" + "---|" * (1 + len(TOOLS)))
    for r in results:
        shares = r.get("collateral")
        if shares:
            cells = " | ".join("-" if t not in shares else f"{shares[t]:.3%}" for t in TOOLS)
            print(f"| {r['clip']} | {cells} |")


def parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--option {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def pick_clips(folder: Path, names: list[str] | None) -> list[Path]:
    clips = clip_paths(folder)
    if not names:
        return clips
    chosen = [c for c in clips if c.name in names or c.stem in names]
    missing = set(names) - {c.name for c in chosen} - {c.stem for c in chosen}
    if missing:
        raise SystemExit(f"no clip named {', '.join(sorted(missing))} in {clips[0].parent}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", help="file names or stems in --data (default: all)")
    parser.add_argument("--data", type=Path, default=VIDEOS, help="folder of clips (default ../shared/data/videos)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N frames of each clip")
    parser.add_argument("--skip-deface", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the floor and veil this many times each, alternating; medians"
    )
    parser.add_argument("--cover", type=float, default=0.9, help="share of a reference box that must be covered")
    parser.add_argument("--reference", type=Path, default=REFERENCE, help="folder of reference.py's files")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "real.json")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a veil.anonymize keyword for veil's run, VALUE as JSON where it parses (e.g. detect_every=4); "
        "repeatable: measures a change against the defaults",
    )
    args = parser.parse_args()
    args.option = dict(parse_option(text) for text in args.option)
    clips = pick_clips(args.data, args.clips)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"real.py: {started}, {os.cpu_count()} cores, {cpu_model()}, load {os.getloadavg()}", flush=True)
    subprocess.run([sys.executable, "-c", PREPARE_MODELS], check=True)  # once per machine, not timed
    results = [run_clip(clip, args) for clip in clips]
    print_speed(results)
    print_stages(results)
    print_recall(results, args.cover)
    print_recall(results, args.cover, sure=True)
    print_collateral(results)
    document = {
        "date": started,
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model(), "load_at_start": os.getloadavg()},
        "deface": DEFACE_VERSION,
        "limit": args.limit,
        "repeat": args.repeat,
        "cover": args.cover,
        "options": args.option,
        "clips": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
