"""What an operator's fault run found on one ``veil serve`` (issue 12, item 6), on a real process."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.media_factory import make_clip
from tests.service.server import SECRETS_ENV, VeilServer, wait_for
from veil.media import probe
from veil.samples import render_sample_clip

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def launch() -> Iterator[Callable[..., VeilServer]]:
    started: list[VeilServer] = []

    def start(data: Path, **env: str) -> VeilServer:
        started.append(VeilServer(data, env={**SECRETS_ENV, **env}))
        return started[-1].start()

    yield start
    for served in started:
        served.ensure_stopped()


def test_sigterm_hands_the_running_job_back_within_the_grace_period_and_exits_0(tmp_path: Path, launch) -> None:
    data = tmp_path / "data"
    # Detecting on every frame keeps the job running well past the 1 s it gets to finish (grace - 2 s).
    server = launch(data, VEIL_STOP_GRACE_SECONDS="3", VEIL_DETECT_EVERY="1")
    shutil.copy(render_sample_clip(tmp_path / "long.mp4", seconds=6, size=(640, 360)), data / "source" / "long.mp4")

    def mid_job() -> list[dict[str, Any]]:
        return [j for j in server.jobs_for("long.mp4") if j["detail"] == "running" and j["progress"]["frames_done"] > 0]

    wait_for(mid_job, 60, "the job to be part-way through", 0.05)
    assert server.process is not None
    asked = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(30)
    took = time.monotonic() - asked
    assert code == 0, server.output()
    assert took < 3 + 1.5, f"stopped after {took:.1f} s, grace 3 s"
    assert "Application shutdown complete" in server.output()
    published = sorted(str(p.relative_to(data / "output")) for p in (data / "output").rglob("*") if p.is_file())
    assert published == [], (published, server.output()[-3000:])  # nothing half-published

    leftover = data / "scratch" / f"veil-job-{'f' * 32}-k1ll3d"  # as a kill -9 leaves it: un-anonymized footage
    leftover.mkdir(parents=True, exist_ok=True)
    (leftover / "source.mp4").write_bytes(b"un-anonymized")
    again = launch(data)  # the job was handed back, not lost: the next start runs it without counting an attempt
    assert not leftover.exists()  # swept at start-up
    job = again.wait_finished("long.mp4", timeout=120)
    assert (job["state"], job["attempts"]) == ("SUCCEEDED", 1), job
    assert [p.name for p in (data / "scratch").iterdir()] == []


def test_a_replaced_source_never_serves_the_other_versions_output(tmp_path: Path, launch) -> None:
    data = tmp_path / "data"
    server = launch(data)
    first_clip, second_clip = make_clip(tmp_path / "v1.mp4", frames=8), make_clip(tmp_path / "v2.mp4", frames=5)
    shutil.copy(first_clip, data / "source" / "clip.mp4")
    first = server.wait_finished("clip.mp4")
    assert server.api("GET", f"/v1/jobs/{first['job_id']}/video").status_code == 200
    shutil.copy(second_clip, data / "source" / "clip.mp4")

    def second_done() -> dict[str, Any] | None:
        jobs = [job for job in server.jobs_for("clip.mp4") if job["job_id"] != first["job_id"]]
        return jobs[0] if jobs and jobs[0]["state"] == "SUCCEEDED" else None

    second = wait_for(second_done, 60, "the new version's job", 0.2)
    video = tmp_path / "served.mp4"
    video.write_bytes(server.api("GET", f"/v1/jobs/{second['job_id']}/video").content)
    assert probe(video).frame_count == 5
    stale = server.api("GET", f"/v1/jobs/{first['job_id']}/video")
    assert stale.status_code == 410 and "newer version" in stale.json()["detail"]
    assert server.api("GET", f"/v1/jobs/{first['job_id']}/detections").status_code == 410
    assert server.stop(), server.output()
