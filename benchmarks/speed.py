"""Speed of veil against the floor and deface on one clip, one process per tool.

    .venv/bin/python benchmarks/speed.py CLIP [--json OUT.json] [--skip deface-default ...]
    .venv/bin/python benchmarks/speed.py --make-clip clip1080.mp4 [--limit 40] [--hold 5]

Runs, one after another, each in a fresh process on the same clip:

  floor           PyAV decode -> libx264 encode with veil.media's VideoReader and
                  VideoWriter at EncoderSettings() (veil's default encoder: H.264,
                  CRF 23, veryfast, rate capped at the input's), no detection, one thread
                  of Python (FFmpeg's decoder and x264 use their own threads)
  floor-pipeline  veil.anonymize(src, dst, detectors=[]): veil's threaded pipeline
                  with nothing to detect (the documented floor)
  veil            veil.anonymize(src, dst) with defaults (faces + plates), the same
                  options `veil anonymize CLIP -o OUT` uses; its Report gives per-stage
                  seconds (stages overlap in threads, so they can sum to more than wall)
  deface-default  deface 1.5.0 (benchmarks/.venv-deface, created on first use), defaults
  deface-640x360  the same with --scale 640x360 (faces only, as deface does)

fps = frames of the clip / wall seconds of the process (start-up and model loading
included). Peak RSS is the process's ru_maxrss from wait4 (the largest of the
process and the children it waited for, e.g. deface's ffmpeg). Prints a table and
writes JSON (default benchmarks/results/speed.json).

--make-clip assembles a 1080p25 H.264 clip from ../shared/data/faces (each image
letterboxed to 1920x1080 and held for --hold frames under a slow zoom and pan), the
same construction recall.py uses for its black-box video.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA,
    DEFACE_VERSION,
    ROOT,
    count_frames,
    cpu_model,
    deface_command,
    load_set,
    run_process,
    scene_plan,
    write_scene,
)

FLOOR = """
import json, sys
from veil.media import EncoderSettings, VideoReader, VideoWriter, probe
src, dst = sys.argv[1], sys.argv[2]
info = probe(src)
n = 0
with VideoReader(src, info) as reader, VideoWriter(dst, info, EncoderSettings()) as writer:
    for frame in reader:
        writer.write(frame.image, frame.pts)
        n += 1
print(json.dumps({"frames": n}))
"""

PREPARE_MODELS = """
import time, veil.detect
start = time.perf_counter()
veil.detect.build_detectors(veil.detect.DetectorSettings())
print(f"veil's int8 models ready (built or found in the cache) in {time.perf_counter() - start:.1f} s")
"""

VEIL = """
import json, sys, veil
from veil.pipeline.heap import pin_malloc_thresholds
pin_malloc_thresholds()  # as the veil command does
src, dst = sys.argv[1], sys.argv[2]
kwargs = {"detectors": []} if sys.argv[3] == "none" else {}
report = veil.anonymize(src, dst, **kwargs)
print(json.dumps({"frames": report.frames, "detected_frames": report.detected_frames, "cuts": report.cuts,
                  "timings": report.timings, "detections": report.detections,
                  "covered": report.covered, "wall_inside_s": round(report.wall_seconds, 3)}))
"""


def tools(clip: Path, folder: Path) -> dict[str, tuple[list[str], Path]]:
    python = sys.executable
    deface = None

    def out(name: str) -> Path:
        return folder / f"{name}.mp4"

    table = {
        "floor": ([python, "-c", FLOOR, str(clip), str(out("floor"))], out("floor")),
        "floor-pipeline": ([python, "-c", VEIL, str(clip), str(out("floor-pipeline")), "none"], out("floor-pipeline")),
        "veil": ([python, "-c", VEIL, str(clip), str(out("veil")), "default"], out("veil")),
    }
    deface = deface_command()
    table["deface-default"] = ([*deface, str(clip), "-o", str(out("deface-default"))], out("deface-default"))
    table["deface-640x360"] = (
        [*deface, str(clip), "-o", str(out("deface-640x360")), "--scale", "640x360"],
        out("deface-640x360"),
    )
    return table


def make_clip(path: Path, limit: int | None, hold: int) -> None:
    items = load_set(DATA / "faces" / "gt.json", limit)
    size = (1920, 1080)
    plan = scene_plan(items, size, hold)
    write_scene(path, items, plan, size, rate=25, crf=20)
    print(
        f"wrote {path}: {len(plan)} frames of 1920x1080 at 25 fps, "
        f"{len(items)} face images x {hold} frames, {path.stat().st_size / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path, nargs="?")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "speed.json")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["floor", "floor-pipeline", "veil", "deface-default", "deface-640x360"]
    )
    parser.add_argument(
        "--make-clip", type=Path, metavar="OUT", help="assemble a 1080p clip from the face images and exit"
    )
    parser.add_argument(
        "--limit", type=int, default=40, help="--make-clip: number of face images (spread over the set)"
    )
    parser.add_argument("--hold", type=int, default=5, help="--make-clip: frames per image")
    args = parser.parse_args()
    if args.make_clip:
        make_clip(args.make_clip, args.limit, args.hold)
        return
    if args.clip is None:
        parser.error("give a CLIP (or --make-clip OUT)")
    clip = args.clip.resolve()
    frames = count_frames(clip)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        geometry = f"{stream.codec_context.width}x{stream.codec_context.height} {stream.codec_context.name}"
    size_in = clip.stat().st_size
    print(
        f"clip {clip.name}: {frames} frames, {geometry}, {size_in / 1e6:.1f} MB; "
        f"machine: {os.cpu_count()} cores, {cpu_model()}",
        flush=True,
    )
    if "veil" not in args.skip:  # a once-per-machine step, not part of any run's time
        subprocess.run([sys.executable, "-c", PREPARE_MODELS], check=True)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (command, output) in tools(clip, Path(folder)).items():
            if name in args.skip:
                continue
            wall, _, rss, stdout = run_process(command)
            row = {
                "wall_s": round(wall, 2),
                "fps": round(frames / wall, 2),
                "peak_rss_mb": round(rss, 1),
                "size_ratio": round(output.stat().st_size / size_in, 3),
                "frames_out": count_frames(output),
            }
            if name.startswith(("veil", "floor")):
                row.update(json.loads(stdout.strip().splitlines()[-1]))
            rows[name] = row
            print(f"  {name:<15} {row['fps']:7.2f} fps  {row['wall_s']:8.1f} s  peak RSS {rss:7.1f} MB", flush=True)
    ratios = {}
    if "veil" in rows:
        for ref in ("floor", "floor-pipeline", "deface-default", "deface-640x360"):
            if ref in rows:
                ratios[f"veil/{ref}"] = round(rows["veil"]["fps"] / rows[ref]["fps"], 3)
    print()
    print("| tool | fps | wall s | peak RSS MB | output/input size | frames out |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['fps']:.2f} | {row['wall_s']:.1f} | {row['peak_rss_mb']:.0f} "
            f"| {row['size_ratio']:.3f} | {row['frames_out']}/{frames} |"
        )
    print()
    print("| ratio (fps) | value |")
    print("|---|---|")
    for key, value in ratios.items():
        print(f"| {key} | {value:.3f} |")
    if "veil" in rows:
        timings = rows["veil"].get("timings", {})
        print()
        print(
            "veil per-stage seconds (stages run in overlapping threads; "
            f"wall {rows['veil']['wall_s']:.1f} s incl. start-up, "
            f"{rows['veil'].get('wall_inside_s', 0):.1f} s inside anonymize):"
        )
        print("| stage | seconds | ms/frame |")
        print("|---|---|---|")
        for stage, seconds in timings.items():
            print(f"| {stage} | {seconds:.1f} | {1000 * seconds / max(frames, 1):.0f} |")
        print(
            f"detections {rows['veil'].get('detections')}  covered {rows['veil'].get('covered')}  "
            f"frames detected {rows['veil'].get('detected_frames')} of {frames}, cuts {rows['veil'].get('cuts')}"
        )
    document = {
        "clip": str(clip),
        "frames": frames,
        "geometry": geometry,
        "input_bytes": size_in,
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model()},
        "deface": DEFACE_VERSION,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "tools": rows,
        "ratios": ratios,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
