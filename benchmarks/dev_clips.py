"""Run veil on the dev clips and check what a user would: same frames and timestamps,
size near the input's, speed, and what was covered.

    .venv/bin/python benchmarks/dev_clips.py [--data ../shared/data/videos] [clip ...]

For each clip it runs ``veil anonymize CLIP -o OUT --detections OUT.json`` (defaults,
faces + plates) in a fresh process, then compares frame count and every frame's
timestamp with the input, and prints fps, output/input size, and the number of
frames with a face or plate covered. Writes ``benchmarks/results/dev_clips.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import veil_command  # noqa: E402


def timestamps_ms(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(f.pts * f.time_base * 1000) for f in container.decode(stream))


def run_clip(clip: Path, folder: Path) -> dict:
    output, detections = folder / f"{clip.stem}.mp4", folder / f"{clip.stem}.json"
    command = veil_command(clip, output, detections)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    before, after = timestamps_ms(clip), timestamps_ms(output)
    document = json.loads(detections.read_text())
    return {
        "clip": clip.name,
        "command": "veil anonymize CLIP -o OUT --detections OUT.json",
        "frames_in": len(before),
        "frames_out": len(after),
        "max_timestamp_error_ms": max((abs(a - b) for a, b in zip(before, after, strict=False)), default=0.0)
        if len(before) == len(after)
        else None,
        "wall_s": round(wall, 1),
        "fps": round(len(after) / wall, 2),
        "size_ratio": round(output.stat().st_size / clip.stat().st_size, 3),
        "frames_with_face": len({f["FrameIndex"] for f in document["Faces"]}),
        "frames_with_plate": len({p["FrameIndex"] for p in document["CustomLabels"]}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "videos")
    args = parser.parse_args()
    clips = args.clips or sorted(args.data.glob("*.mp4"))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for clip in clips:
            row = run_clip(clip, Path(folder))
            rows.append(row)
            print(
                f"{row['clip']:<36} frames {row['frames_in']}->{row['frames_out']}  "
                f"max ts error {row['max_timestamp_error_ms']} ms  "
                f"{row['fps']:6.2f} fps  size x{row['size_ratio']}  "
                f"face frames {row['frames_with_face']}  plate frames {row['frames_with_plate']}",
                flush=True,
            )
    out = ROOT / "benchmarks" / "results" / "dev_clips.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
