"""Load: N small uploads at once against 1 and 2 ``veil serve`` replicas on this machine.

    .venv/bin/python benchmarks/load.py                                  # 12 uploads, 1 then 2 replicas
    .venv/bin/python benchmarks/load.py --uploads 2 --seconds 0.5 --size 160x96 --classes face   # a quick check

Each replica is a real ``veil serve`` process with ``--workers`` workers (default 1);
the replicas share a PostgreSQL job store (a throw-away cluster started here, as the
tests start it; Debian's postgresql package) and one data folder, whose local
buckets both see. The clip is veil's sample scene (a face and a plate moving over a
photo). All N copies land in the source bucket at once (each published by rename);
a copy's time from upload to output ends when its ``detections.json`` (the last
object a job publishes) appears. Reported per replica count: jobs/hour over the whole
batch (from the first upload to the last output), p50 and p95 upload-to-output
seconds (which include the watcher's wait for two listings that agree: polls every
0.5 s here), and each replica's peak RSS (VmHWM of its process). Prints a table and
writes JSON (default benchmarks/results/load.json). Start-up (imports, model loading)
happens before the uploads and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import cpu_model  # noqa: E402
from tests.postgres_server import postgres_server  # noqa: E402
from tests.s3_server import free_port  # noqa: E402
from veil.samples import render_sample_clip  # noqa: E402

SECRETS = {
    "VEIL_API_TOKEN": "load-bench-token-0123456789",
    "VEIL_ACCESS_KEY_ID": "VEILBENCH",
    "VEIL_SECRET_ACCESS_KEY": "load-bench-secret-0123456789",
}


def start_replica(data: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "veil", "serve", "--data-dir", str(data), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"veil serve exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"veil serve did not get ready in 120 s; see {log}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def upload_all(clip: Path, source: Path, count: int) -> dict[str, float]:
    """Publish ``count`` copies by rename (never seen half-written); the time each appeared."""
    uploaded = {}
    for index in range(count):
        staged = source / f".upload-{index}.mp4"
        shutil.copy(clip, staged)
    for index in range(count):
        os.rename(source / f".upload-{index}.mp4", source / f"clip-{index:03d}.mp4")
        uploaded[f"clip-{index:03d}"] = time.monotonic()
    return uploaded


def wait_outputs(output: Path, uploaded: dict[str, float], timeout: float) -> dict[str, float]:
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(uploaded):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(done)} of {len(uploaded)} outputs after {timeout:.0f} s")
        for name in uploaded.keys() - done.keys():
            if (output / name / "detections.json").exists():
                done[name] = time.monotonic()
        time.sleep(0.05)
    return done


def run(replicas: int, clip: Path, args: argparse.Namespace, database_url: str, work: Path) -> dict[str, object]:
    data = work / f"replicas-{replicas}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("VEIL_")}
    env.update(
        SECRETS,
        VEIL_DATABASE_URL=database_url,
        VEIL_WORKERS=str(args.workers),
        VEIL_CLASSES=args.classes,
        VEIL_POLL_SECONDS="0.5",
    )
    started = [start_replica(data, env, work / f"replicas-{replicas}-{index}.log") for index in range(replicas)]
    try:
        uploaded = upload_all(clip, data / "source", args.uploads)
        finished = wait_outputs(data / "output", uploaded, args.timeout)
        rss = [round(peak_rss_mb(process.pid), 1) for process, _ in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            process.wait(60)
    latencies = sorted(finished[name] - uploaded[name] for name in uploaded)
    span = max(finished.values()) - min(uploaded.values())
    return {
        "replicas": replicas,
        "uploads": args.uploads,
        "jobs_per_hour": round(args.uploads / span * 3600, 1),
        "p50_seconds": round(statistics.median(latencies), 2),
        "p95_seconds": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2),
        "peak_rss_mb": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=12)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", type=int, default=1, help="workers per replica")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the clip")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the clip")
    parser.add_argument("--classes", default="face,plate")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="veil-load-") as folder, postgres_server() as postgres:
        work = Path(folder)
        clip = render_sample_clip(work / "clip.mp4", seconds=args.seconds, size=(width, height))
        for replicas in args.replicas:
            rows.append(run(replicas, clip, args, postgres.new_database(), work))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'replicas':>8} {'uploads':>7} {'jobs/hour':>10} {'p50 s':>7} {'p95 s':>7}  peak RSS per replica (MB)")
    for row in rows:
        print(
            f"{row['replicas']:>8} {row['uploads']:>7} {row['jobs_per_hour']:>10} {row['p50_seconds']:>7} "
            f"{row['p95_seconds']:>7}  {row['peak_rss_mb']}"
        )
    result = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "clip": {"seconds": args.seconds, "size": args.size},
        "classes": args.classes,
        "workers_per_replica": args.workers,
        "runs": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
