"""``veil anonymize --jobs N --segment-seconds S``: the flags reach the engine; the output is complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.segments.fakes import write_clip
from veil.media import probe


def test_cli_runs_segments_on_a_local_pool(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "clip.mp4", seconds=2.0)
    output, detections = tmp_path / "out.mp4", tmp_path / "out.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "veil",
            "anonymize",
            source,
            "-o",
            output,
            "--classes",
            "face",
            "--detections",
            detections,
            "--engine",
            "local",
            "--jobs",
            "2",
            "--segment-seconds",
            "1",
            "-q",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert probe(output).frame_count == 50
    assert json.loads(detections.read_text())["VideoMetadata"]["FrameWidth"] == 320
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.json", "out.mp4"]


def test_cli_rejects_an_unknown_engine(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "veil", "anonymize", tmp_path / "x.mp4", "--engine", "spark"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "spark" in result.stderr
