"""``veil serve`` as a real subprocess on a loopback port, and what tests need to talk to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx

TOKEN = "test-bearer-token-0123456789"
KEY_ID = "VEILTESTACCESSKEY001"
SECRET = "test-secret-access-key-0123456789"
SECRETS_ENV = {"VEIL_API_TOKEN": TOKEN, "VEIL_ACCESS_KEY_ID": KEY_ID, "VEIL_SECRET_ACCESS_KEY": SECRET}
# Small and fast: faces only, one worker, quick polling and a short lease (so a killed job is retried soon).
FAST_ENV = {"VEIL_CLASSES": "face", "VEIL_POLL_SECONDS": "0.3", "VEIL_LEASE_SECONDS": "2", "VEIL_WORKERS": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class VeilServer:
    """One ``python -m veil serve`` process; its output goes to ``DATA_DIR.log``."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, token: str = TOKEN) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("VEIL_")}
        self.env.update({**FAST_ENV, **(env or {})})
        self.token = token
        self.log = data_dir.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> VeilServer:
        # -X faulthandler: SIGABRT writes every thread's stack to the log (see post_mortem).
        command = [sys.executable, "-X", "faulthandler", "-m", "veil", "serve", "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        try:
            wait_for(self._healthy, timeout, f"{self.url}/healthz (log: {self.log})")
        except BaseException:
            self.ensure_stopped()
            raise
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"veil serve exited with {self.process.returncode}:\n{self.output()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def post_mortem(self, lines: int = 150) -> str:
        """The end of the log; a process still running is stopped first with every thread's stack written
        there, so that a test that timed out shows where the replica was stuck."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        tail = "\n".join(self.output().splitlines()[-lines:])
        return f"--- the last {lines} lines of {self.log} ---\n{tail}"

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def ensure_stopped(self) -> None:
        """Kill the process if it still runs (test teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def stop(self) -> bool:
        """SIGTERM, as a service manager stops it; whether it shut down cleanly (uvicorn re-raises the signal)."""
        if self.process is None or self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return False
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.output()

    # -- talking to it ----------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def jobs(self, **params: Any) -> list[dict[str, Any]]:
        response = self.api("GET", "/v1/jobs", params={"limit": 1000, **params})
        response.raise_for_status()
        return response.json()["jobs"]

    def jobs_for(self, key: str) -> list[dict[str, Any]]:
        return [job for job in self.jobs() if job["source"]["key"] == key]

    def wait_finished(self, key: str, timeout: float = 60.0) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            jobs = self.jobs_for(key)
            return jobs[0] if jobs and jobs[0]["state"] != "IN_PROGRESS" else None

        return wait_for(finished, timeout, f"the job of {key} to finish (log: {self.log})", interval=0.2)

    def rekognition(self, key_id: str = KEY_ID, secret: str = SECRET, **config: Any) -> Any:
        from botocore.config import Config

        return boto3.client(
            "rekognition",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, **config),
        )
