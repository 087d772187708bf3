"""``/metrics`` in Prometheus format and ``--log-format json`` with the job id on each line of a job's work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.media_factory import make_clip
from tests.service.server import SECRETS_ENV, VeilServer

pytestmark = pytest.mark.timeout(180)


def samples(server: VeilServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_and_json_logs_of_a_job(tmp_path: Path) -> None:
    server = VeilServer(tmp_path / "data", env={**SECRETS_ENV, "VEIL_LOG_FORMAT": "json"}).start()
    try:
        shutil.copy(make_clip(tmp_path / "clip.mp4", frames=12), server.data_dir / "source" / "clip.mp4")
        job = server.wait_finished("clip.mp4")
        assert job["state"] == "SUCCEEDED", job
        found = samples(server)
        assert server.stop(), server.output()
    finally:
        server.ensure_stopped()

    assert found[("veil_jobs", (("state", "succeeded"),))] == 1
    assert found[("veil_jobs", (("state", "queued"),))] == 0
    assert found[("veil_queue_depth", ())] == 0
    assert found[("veil_job_store_up", ())] == 1
    assert found[("veil_job_duration_seconds_count", (("outcome", "succeeded"),))] == 1
    assert found[("veil_job_fps_count", ())] == 1 and found[("veil_job_fps_sum", ())] > 0
    assert found[("veil_stage_seconds_total", (("stage", "detect_face"),))] > 0
    assert found[("veil_stage_seconds_total", (("stage", "encode"),))] > 0
    assert found[("veil_lease_takeovers_total", ())] == 0
    assert found[("veil_http_requests_total", (("method", "GET"), ("route", "/v1/jobs"), ("status", "200")))] >= 1
    assert ("veil_http_request_duration_seconds_count", (("method", "GET"), ("route", "/v1/jobs"))) in found

    lines = [line for line in server.output().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    of_jobs = [record for record in records if record["logger"].startswith(("veil.jobs", "veil.pipeline"))]
    assert of_jobs and all(record.get("job_id") == job["job_id"] for record in of_jobs), of_jobs
    assert any("serving on http://" in record["message"] for record in records)
