"""Fingerprint what ``veil anonymize`` writes for each dev clip, and compare two versions of veil frame by frame.

    .venv/bin/python benchmarks/compare_outputs.py record OUT.json [--data DIR] [--keep DIR] [clip ...]
    .venv/bin/python benchmarks/compare_outputs.py compare BASELINE.json [--data DIR] [--keep DIR]
                                                   [--baseline-videos DIR] [--tolerance N] [clip ...]

Each clip of ``--data`` (default ``../shared/data/videos``; skipped with a message when the folder is absent) is
anonymized with the default settings plus ``--detections``, in a fresh process of the installed veil. The fingerprint
of each output holds: the frame count, every frame's pts and the stream time base, a SHA-256 of every decoded frame's
raw planes (its native pixel format, line padding removed), the display rotation, each audio stream's codec, packet
count, duration and a hash of its packets, and the detections JSON's hash (bytes, and content with sorted keys).

``record`` writes the fingerprints to OUT.json. ``compare`` makes fresh outputs with the code installed now and
prints a table against BASELINE.json: frames, pts, pixels (differing frames, first differing index), audio,
detections. It exits 1 if anything differs. Keep the baseline's videos (``record --keep DIR``) and pass them as
``compare --baseline-videos DIR --tolerance N`` to accept pixel differences of at most N levels (for an encoder that
is not bit-exact between runs); the hashes alone can only say equal or not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import veil_command  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "videos"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


def planes(frame: av.VideoFrame) -> np.ndarray:
    """The frame's pixels in its native format (yuv420p as one (h*3/2, w) array), or RGB24 where PyAV cannot."""
    try:
        return frame.to_ndarray()
    except (ValueError, NotImplementedError):
        return frame.to_ndarray(format="rgb24")


def decoded_frames(path: Path) -> Iterator[av.VideoFrame]:
    with av.open(str(path)) as container:
        yield from container.decode(container.streams.video[0])


def video_fingerprint(path: Path) -> dict[str, Any]:
    pts, hashes, rotation, pix_fmt = [], [], None, None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = str(stream.time_base)
        for frame in container.decode(stream):
            if rotation is None:
                rotation, pix_fmt = int(getattr(frame, "rotation", 0) or 0) % 360, frame.format.name
            pts.append(frame.pts)
            hashes.append(hashlib.sha256(np.ascontiguousarray(planes(frame)).tobytes()).hexdigest()[:32])
    return {
        "frames": len(pts),
        "time_base": time_base,
        "pts": pts,
        "pixels": hashes,
        "rotation": rotation,
        "pix_fmt": pix_fmt,
    }


def audio_fingerprint(path: Path) -> list[dict[str, Any]]:
    streams = []
    with av.open(str(path)) as container:
        for stream in container.streams.audio:
            digest, packets, duration = hashlib.sha256(), 0, 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packets += 1
                duration += packet.duration or 0
                digest.update(bytes(packet))
            streams.append(
                {
                    "codec": stream.codec_context.name,
                    "packets": packets,
                    "duration": str(duration * stream.time_base) if stream.time_base else None,
                    "sha256": digest.hexdigest()[:32],
                }
            )
    return streams


def detections_fingerprint(path: Path) -> dict[str, str]:
    raw = path.read_bytes()
    content = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    return {
        "bytes_sha256": hashlib.sha256(raw).hexdigest()[:32],
        "content_sha256": hashlib.sha256(content).hexdigest()[:32],
    }


def covered_fingerprint(frames: Path) -> list[str]:
    """A hash of every covered frame as veil handed it to the encoder (``--frames-dir``'s mosaic PNGs).

    The encoded video is not always bit-identical from run to run (x264 under a bit-rate cap on a
    loaded machine); these frames are, so they show the covered pixels are the same.
    """
    return [
        hashlib.sha256(cv2.imread(str(png), cv2.IMREAD_UNCHANGED).tobytes()).hexdigest()[:16]
        for png in sorted((frames / "mosaic").glob("*.png"))
    ]


def anonymize(clip: Path, folder: Path, covered: bool = False) -> tuple[Path, Path]:
    """Run the installed veil on ``clip`` with default settings; return (video, detections)."""
    output, detections = folder / clip.name, folder / f"{clip.stem}.detections.json"
    frames = ["--frames-dir", str(folder / f"{clip.stem}.frames")] if covered else []
    command = veil_command(clip, output, detections, "--overwrite", *frames)
    subprocess.run(command, check=True)
    return output, detections


def fingerprint(clip: Path, folder: Path, covered: bool = False) -> dict[str, Any]:
    print(f"anonymizing {clip.name}", file=sys.stderr, flush=True)
    video, detections = anonymize(clip, folder, covered)
    found = {
        **video_fingerprint(video),
        "audio": audio_fingerprint(video),
        "detections": detections_fingerprint(detections),
    }
    if covered:
        found["covered"] = covered_fingerprint(folder / f"{clip.stem}.frames")
    return found


def clips_of(args: argparse.Namespace) -> list[Path]:
    if args.clips:
        return [args.data / name if not Path(name).exists() else Path(name) for name in args.clips]
    if not args.data.is_dir():
        print(f"no clips: {args.data} does not exist (pass --data DIR); nothing to do", file=sys.stderr)
        return []
    return sorted(p for p in args.data.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


def fingerprints(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        return {clip.name: fingerprint(clip, folder, args.covered) for clip in clips_of(args)}


# -- compare -----------------------------------------------------------------------


def pixel_diffs(base: dict[str, Any], new: dict[str, Any]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(base["pixels"], new["pixels"], strict=False)) if a != b]


def within_tolerance(
    baseline_video: Path, new_video: Path, indices: list[int], tolerance: int
) -> tuple[list[int], int]:
    """Of the frames at ``indices``, those with any pixel off by more than ``tolerance``; and the largest difference."""
    wanted, beyond, largest = set(indices), [], 0
    for index, (a, b) in enumerate(zip(decoded_frames(baseline_video), decoded_frames(new_video), strict=False)):
        if index in wanted:
            diff = int(np.abs(planes(a).astype(np.int16) - planes(b).astype(np.int16)).max())
            largest = max(largest, diff)
            if diff > tolerance:
                beyond.append(index)
    return beyond, largest


def compare_clip(
    name: str, base: dict[str, Any], new: dict[str, Any], args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    differing = pixel_diffs(base, new)
    row: dict[str, Any] = {
        "clip": name,
        "frames": base["frames"] == new["frames"],
        "pts": base["pts"] == new["pts"] and base["time_base"] == new["time_base"],
        "rotation": base["rotation"] == new["rotation"],
        "audio": base["audio"] == new["audio"],
        "detections": base["detections"]["content_sha256"] == new["detections"]["content_sha256"],
        "covered": base.get("covered") == new.get("covered") if "covered" in base else None,
        "differing_frames": len(differing) + abs(base["frames"] - new["frames"]),
        "first_differing": differing[0] if differing else None,
        "max_diff": None,
    }
    if differing and args.baseline_videos:
        beyond, row["max_diff"] = within_tolerance(
            args.baseline_videos / name, folder / name, differing, args.tolerance
        )
        row["differing_frames"] = len(beyond) + abs(base["frames"] - new["frames"])
        row["first_differing"] = beyond[0] if beyond else None
    row["pixels"] = row["differing_frames"] == 0
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["frames", "pts", "pixels", "rotation", "audio", "detections", "covered"]
    print(f"{'clip':<38}" + "".join(f"{c:>11}" for c in columns) + "   differing frames (first, max diff)")
    for row in rows:
        marks = "".join(f"{_mark(row[c]):>11}" for c in columns)
        print(f"{row['clip']:<38}{marks}   {row['differing_frames']} ({row['first_differing']}, {row['max_diff']})")


def compare(args: argparse.Namespace) -> int:
    baseline = json.loads(args.json.read_text())["clips"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for clip in clips_of(args):
            if clip.name not in baseline:
                print(f"{clip.name}: not in the baseline, skipped", file=sys.stderr)
                continue
            new = fingerprint(clip, folder, args.covered)
            rows.append(compare_clip(clip.name, baseline[clip.name], new, args, folder))
    print_table(rows)
    return 1 if any(_differs(row) for row in rows) else 0


def _mark(value: bool | None) -> str:
    return "-" if value is None else "equal" if value else "DIFFERS"


def _differs(row: dict[str, Any]) -> bool:
    """Anything but the encoded pixels differs, or those differ too with no covered frames to tell encoder noise."""
    if any(not row[c] for c in ("frames", "pts", "rotation", "audio", "detections")) or row["covered"] is False:
        return True
    return not row["pixels"] and row["covered"] is None


def record(args: argparse.Namespace) -> int:
    clips = fingerprints(args)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    document = {"commit": commit, "command": "veil anonymize CLIP -o OUT --detections OUT.json", "clips": clips}
    args.json.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.json} ({len(clips)} clips)", file=sys.stderr)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["record", "compare"])
    parser.add_argument("json", type=Path, help="record: where to write; compare: the baseline to compare against")
    parser.add_argument("clips", nargs="*", help="clip names or paths (default: every video in --data)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--keep", type=Path, help="write the outputs here and keep them (default: a temporary folder)")
    parser.add_argument("--baseline-videos", type=Path, help="compare: the baseline's outputs (from record --keep)")
    parser.add_argument(
        "--covered", action="store_true", help="also compare every covered frame before encoding (--frames-dir)"
    )
    parser.add_argument("--tolerance", type=int, default=0, help="compare: largest pixel difference still equal")
    args = parser.parse_args()
    sys.exit(record(args) if args.mode == "record" else compare(args))


if __name__ == "__main__":
    main()
