#!/usr/bin/env python3
"""Set up veil's environment and run one thing in it, with nothing but Python 3.11+.

    python3 dev.py demo    # set up, render a sample clip, anonymize it
    python3 dev.py lint    # set up, run ruff (lint, format), mypy and the layer contracts (CI runs this first)
    python3 dev.py test    # set up, run the test suite (CI runs this second)

Setup is idempotent: uv (pinned) is installed into .tools/, and the locked
dependencies (uv.lock) into .venv/. Extra arguments go to the command run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.9"
TOOLS = ROOT / ".tools"
BIN = "Scripts" if os.name == "nt" else "bin"


def run(*command: str | Path, check: bool = True) -> int:
    """Run ``command`` in the repository; exit with its status if it fails and ``check``."""
    print("+", " ".join(str(part) for part in command), flush=True)
    completed = subprocess.run([str(part) for part in command], cwd=ROOT)
    if completed.returncode and check:
        sys.exit(completed.returncode)
    return completed.returncode


def uv() -> Path:
    """uv at the pinned version, in a private virtual environment."""
    binary = TOOLS / BIN / "uv"
    if not binary.exists():
        venv.create(TOOLS, with_pip=True)
        run(TOOLS / BIN / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    return binary


def setup() -> Path:
    """Install the locked environment, every extra included, into .venv and return its bin folder."""
    # Bytecode compiled at install time, as pip does by default (uv does not): without it a process
    # where Python may not write .pyc files compiles about 500 modules on every start (1.6 s on 2 cores).
    run(uv(), "sync", "--frozen", "--all-extras", "--compile-bytecode", "--python", sys.executable)
    return ROOT / ".venv" / BIN


def chromium() -> None:
    """Debian's Chromium for the review pages' browser tests (tests/review), installed once on a fresh machine.

    Playwright drives this executable; it never downloads a browser of its own.
    """
    if Path("/usr/bin/chromium").exists() or not Path("/usr/bin/apt-get").exists():
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    run(*sudo, "apt-get", "update", "-q")
    run(*sudo, "apt-get", "install", "-y", "-q", "chromium")


def demo(extra: list[str]) -> None:
    bin_dir = setup()
    run(bin_dir / "veil", "sample", "samples/sample.mp4")
    run(
        bin_dir / "veil",
        "anonymize",
        "samples/sample.mp4",
        "-o",
        "samples/sample.anonymized.mp4",
        "--detections",
        "samples/sample.detections.json",
        "--overwrite",
        *extra,
    )


def ensure_postgres() -> None:
    """PostgreSQL's server, which the job store and replica tests start: Debian's package, installed if missing."""
    if shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return
    if not shutil.which("apt-get") or getattr(os, "geteuid", lambda: -1)() != 0:
        print("dev.py: PostgreSQL's server is not installed; the PostgreSQL tests will be skipped", file=sys.stderr)
        return
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    run("apt-get", "update", "-q")
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql")


def test(extra: list[str]) -> None:
    bin_dir = setup()
    ensure_postgres()
    chromium()
    run(bin_dir / "python", "-m", "pytest", *extra)


def lint(extra: list[str]) -> None:
    """Run every check, even after one fails, so that one run shows all there is to fix.

    Extra arguments go to ``ruff check`` (``--fix``, ``--statistics``, paths).
    """
    bin_dir = setup()
    checks = {
        "ruff check": (bin_dir / "ruff", "check", *extra),
        "ruff format": (bin_dir / "ruff", "format", "--check"),
        "mypy": (bin_dir / "mypy", "src"),
        "lint-imports": (bin_dir / "lint-imports", "--no-logo"),
    }
    failed = [name for name, command in checks.items() if run(*command, check=False)]
    if failed:
        sys.exit(f"dev.py lint: {', '.join(failed)} failed")


COMMANDS = {"demo": demo, "lint": lint, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
