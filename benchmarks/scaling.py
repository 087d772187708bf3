"""Scaling: wall time and fps of one video cut into 1, 2 and 4 segments, one fresh process per run.

    .venv/bin/python benchmarks/scaling.py                       # renders a 60 s 1080p25 clip first
    .venv/bin/python benchmarks/scaling.py CLIP [--segments 1 2 4] [--engines local ray]
    .venv/bin/python benchmarks/scaling.py --seconds 4 --size 640x360 --classes face   # a quick check

Each run is ``veil.anonymize`` in a fresh process (start-up and model loading
included, as a user meets it) with ``jobs=N`` and segments of ``duration / N``
seconds, cut at the first keyframe past each mark; N=1 is the single pass.
``local`` runs the segments in N worker processes; ``ray`` on a local Ray instance
started in that process (its start-up counted), staging through a scratch folder.
The rendered clip (veil's sample scene: a face and a plate moving over a photo,
with audio) has a keyframe every 2 s, as phone and dashcam clips about do, so the
cuts land near the marks. Reported per run: wall seconds, fps = frames / wall, the
segments actually cut, the speed-up over the smallest N of the same engine, the
seconds of stitching (the parts joined by stream copy, the audio muxed once, the
detections merged: serial, after the last segment) from veil's report, and how long
the process took to get its engine (imports, and Ray's start-up). Prints a table and writes JSON (default
benchmarks/results/scaling.json). Times from different machines or runs are not
comparable; the ratios within one run are.
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

from _common import cpu_model

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import json, sys, time
start = time.perf_counter()
import veil
from veil.parallel import make_engine
from veil.parallel.staging import Scratch
from veil.media import probe
from veil.pipeline.options import AnonymizeOptions
from veil.parallel.plan import plan

source, destination, engine_name, count, classes, scratch = sys.argv[1:7]
count = int(count)
info = probe(source)
options = {"classes": classes, "jobs": count}
if count > 1:
    options["segment_seconds"] = info.duration_s / count
engine = make_engine(engine_name, count, scratch=Scratch.parse(scratch) if engine_name == "ray" else None)
with_engine = time.perf_counter()
try:
    report = veil.anonymize(source, destination, engine=engine, **options)
finally:
    engine.close()
segments = plan(info, AnonymizeOptions.build(**options), remote=engine.remote)
print(json.dumps({"frames": report.frames, "segments": len(segments) if segments else 1, "timings": report.timings,
                  "engine_start_s": round(with_engine - start, 3), "inside_s": round(report.wall_seconds, 3)}))
"""


def render(path: Path, seconds: float, size: tuple[int, int]) -> None:
    from veil.samples import render_sample_clip

    started = time.perf_counter()
    render_sample_clip(path, seconds=seconds, size=size, gop=50)
    print(
        f"rendered {path}: {seconds:g} s of {size[0]}x{size[1]} at 25 fps in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def run(clip: Path, engine: str, count: int, classes: str, folder: Path) -> dict:
    output = folder / f"{engine}-{count}.mp4"
    scratch = folder / f"scratch-{engine}-{count}"
    scratch.mkdir()
    command = [sys.executable, "-c", RUN, str(clip), str(output), engine, str(count), classes, str(scratch)]
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{engine} with {count} segments failed ({child.returncode}):\n{child.stderr[-2000:]}")
    row = json.loads(child.stdout.strip().splitlines()[-1])
    with av.open(str(output)) as container:
        frames_out = sum(1 for _ in container.demux(container.streams.video[0]) if _.size)
    row.update(wall_s=round(wall, 2), fps=round(row["frames"] / wall, 2), frames_out=frames_out)
    row["stitch_s"] = round(row["timings"].get("stitch", 0.0), 2)
    output.unlink()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path, nargs="?", help="the video to run on (default: render one)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the rendered clip")
    parser.add_argument("--size", default="1920x1080", help="size of the rendered clip, WxH")
    parser.add_argument("--segments", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--engines", nargs="+", default=["local"], choices=["local", "ray"])
    parser.add_argument("--classes", default="face,plate")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "scaling.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veil-scaling-") as temporary:
        folder = Path(temporary)
        clip = args.clip.resolve() if args.clip else folder / "clip.mp4"
        if args.clip is None:
            width, height = (int(part) for part in args.size.lower().split("x"))
            render(clip, args.seconds, (width, height))
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            geometry = f"{stream.codec_context.width}x{stream.codec_context.height} {stream.codec_context.name}"
            duration = float(container.duration or 0) / av.time_base
        print(
            f"clip {clip.name}: {geometry}, {duration:.1f} s; machine: {os.cpu_count()} cores, {cpu_model()}",
            flush=True,
        )
        rows = []
        for engine in args.engines:
            for count in args.segments:
                row = {"engine": engine, "jobs": count, **run(clip, engine, count, args.classes, folder)}
                rows.append(row)
                print(
                    f"  {engine:<5} jobs {count}: {row['segments']} segments, "
                    f"{row['fps']:6.2f} fps, {row['wall_s']:7.1f} s",
                    flush=True,
                )
    for row in rows:
        base = next(r for r in rows if r["engine"] == row["engine"] and r["jobs"] == min(args.segments))
        row["speedup"] = round(base["wall_s"] / row["wall_s"], 3)
    print()
    print("| engine | jobs | segments | wall s | fps | speed-up | stitch s | engine ready s | frames out |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['engine']} | {row['jobs']} | {row['segments']} | {row['wall_s']:.1f} "
            f"| {row['fps']:.2f} | {row['speedup']:.2f}x "
            f"| {row['stitch_s']:.2f} | {row['engine_start_s']:.1f} | {row['frames_out']}/{row['frames']} |"
        )
    document = {
        "clip": str(args.clip or f"rendered sample scene, {args.seconds:g} s"),
        "geometry": geometry,
        "duration_s": round(duration, 2),
        "classes": args.classes,
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
