"""Peak memory does not grow with video length: anonymize a short and a long 1080p clip.

    .venv/bin/python benchmarks/memory.py [--short 10] [--long 60] [--fps 10]

Renders two 1080p H.264 clips with audio (the sample scene, scaled up) that differ
only in length, runs ``veil anonymize`` (faces + plates, defaults) on each in its own
process, and prints the peak RSS of each run and the difference. Writes
``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.media_factory import make_clip  # noqa: E402
from veil.samples import sample_frame  # noqa: E402

SIZE = (1920, 1080)


def render(path: Path, seconds: int, fps: int) -> Path:
    frames = seconds * fps
    period = 10 * fps  # the scene repeats every 10 s, so long and short clips hold the same content

    def content(index: int):  # type: ignore[no-untyped-def]
        return cv2.resize(sample_frame(index % period, (640, 360), period), SIZE, interpolation=cv2.INTER_LINEAR)

    return make_clip(
        path, size=SIZE, frames=frames, rate=Fraction(fps), audio=[("aac", 48000, 2)], content=content, crf=23
    )


def peak_rss_mb(source: Path, output: Path) -> tuple[float, float]:
    """Run veil in a fresh process; return (its peak RSS in MB, wall seconds)."""
    start = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import resource, sys, veil; "
                # as the veil command does
                "from veil.pipeline.heap import pin_malloc_thresholds; pin_malloc_thresholds(); "
                f"veil.anonymize({str(source)!r}, {str(output)!r}); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=10, help="seconds")
    parser.add_argument("--long", type=int, default=60, help="seconds")
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, seconds in (("short", args.short), ("long", args.long)):
            clip = render(Path(folder) / f"{name}.mp4", seconds, args.fps)
            rss, wall = peak_rss_mb(clip, Path(folder) / f"{name}.out.mp4")
            results[name] = {
                "seconds": seconds,
                "frames": seconds * args.fps,
                "peak_rss_mb": round(rss, 1),
                "wall_s": round(wall, 1),
            }
            print(
                f"{name:>5}: {seconds:3d} s of 1080p at {args.fps} fps -> peak RSS {rss:7.1f} MB ({wall:.0f} s)",
                flush=True,
            )
    growth = results["long"]["peak_rss_mb"] - results["short"]["peak_rss_mb"]
    print(f"growth: {growth:+.1f} MB for {args.long - args.short} s more video")
    out = ROOT / "benchmarks" / "results" / "memory.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": platform.processor() or platform.machine(), "runs": results, "growth_mb": round(growth, 1)},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
