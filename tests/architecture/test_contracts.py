"""The layer rules are checked by import-linter (pyproject.toml, [tool.importlinter]); these tests check the checker:
a "never" that is broken on purpose fails `lint-imports`, naming the contract and the line that broke it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {c["id"]: c["name"] for c in tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]}

# (file inside veil, the import added at its end, the contract that forbids it)
BREAKS = [
    ("track/fusion.py", "import veil.detect", "track-no-detect"),
    ("redact/styles.py", "import veil.media", "independent-leaves"),
    ("storage/local.py", "import veil.media", "storage-light"),
    ("records/__init__.py", "import av", "records-no-runtime"),
]


def lint_imports(package_root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts, over the ``veil`` package found in ``package_root``."""
    arguments = [arg for contract in contracts for arg in ("--contract", contract)]
    env = {**os.environ, "PYTHONPATH": str(package_root), "COLUMNS": "400", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *arguments, str(CONFIG)],
        cwd=package_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def copy_of_veil(folder: Path) -> Path:
    shutil.copytree(ROOT / "src" / "veil", folder / "veil", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    """lint-imports' output over a copy of veil with each forbidden import of BREAKS added; and their line numbers."""
    root = copy_of_veil(tmp_path_factory.mktemp("broken"))
    lines = {}
    for relative, statement, contract in BREAKS:
        path = root / "veil" / relative
        text = path.read_text() if path.exists() else ""
        path.write_text(f"{text.rstrip()}\n{statement}  # breaks {contract} on purpose\n")
        lines[contract] = len(path.read_text().splitlines())
    result = lint_imports(root, *lines)
    return result.stdout + result.stderr, lines


@pytest.mark.parametrize(("relative", "statement", "contract"), BREAKS, ids=[b[2] for b in BREAKS])
def test_a_forbidden_import_breaks_its_contract(
    broken: tuple[str, dict[str, int]], relative: str, statement: str, contract: str
) -> None:
    output, lines = broken
    flat = " ".join(output.split())
    assert f"{CONTRACTS[contract]} BROKEN" in flat, output
    module = "veil." + relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    imported = statement.split()[-1]
    assert re.search(
        rf"{re.escape(module)} -> {re.escape(imported)}(\.\S+)? \(l\.[\d, ]*\b{lines[contract]}\b", flat
    ), output


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(copy_of_veil(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout
