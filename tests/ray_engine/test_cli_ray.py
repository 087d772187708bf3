"""``veil anonymize --engine ray`` as a user runs it.

It joins a cluster and leaves only the outputs; bad addresses fail in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.s3_server import free_port
from tests.segments.fakes import write_clip
from veil.media import probe


def veil(*args: object, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "veil", "anonymize", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=timeout,
    )


def test_anonymize_on_a_running_cluster(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import ray

    source = write_clip(tmp_path / "clip.mp4", seconds=2.0)
    result = veil(
        source,
        "-o",
        tmp_path / "out.mp4",
        "--classes",
        "face",
        "--detections",
        tmp_path / "out.json",
        "--engine",
        "ray",
        "--ray-address",
        ray.get_runtime_context().gcs_address,
        "--segment-seconds",
        "1",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    assert probe(tmp_path / "out.mp4").frame_count == 50
    assert json.loads((tmp_path / "out.json").read_text())["VideoMetadata"]["FrameWidth"] == 320
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip.mp4",
        "out.json",
        "out.mp4",
    ]  # the scratch store is gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--engine", "ray", "--ray-address", "nowhere"],
            "Ray address 'nowhere' is not auto, ray://HOST:PORT or HOST:PORT",
        ),
        (
            ["--engine", "ray", "--ray-address", f"ray://127.0.0.1:{free_port()}"],
            "cannot reach Ray at ray://127.0.0.1:",
        ),
        (["--engine", "ray", "--scratch", "gs://bucket"], "neither s3://BUCKET nor a folder"),
        (["--ray-address", "auto"], "--ray-address and --scratch go with --engine ray"),
    ],
)
def test_bad_engine_settings_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    source = write_clip(tmp_path / "clip.mp4", seconds=0.2)
    result = veil(source, "-o", tmp_path / "out.mp4", *args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
