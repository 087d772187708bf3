"""The veil command as a user meets it: real processes, real files, exit codes, one-line errors."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media_factory import make_clip, make_text_file, truncate

# Root ignores file modes; without these two capabilities it obeys them like anyone.
WITHOUT_FILE_MODE_OVERRIDE = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
]


def veil(
    *args: str | Path, obey_file_modes: bool = False, stderr: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess:
    prefix = []
    if obey_file_modes and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = WITHOUT_FILE_MODE_OVERRIDE
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "veil", *map(str, args)],
        capture_output=stderr == subprocess.PIPE,
        stderr=None if stderr == subprocess.PIPE else stderr,
        text=True,
        env=env,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, expected_code: int, fragment: str) -> None:
    assert result.returncode == expected_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("veil: error:") and fragment in lines[0]
    assert "Traceback" not in result.stderr


def leftovers(folder: Path, *keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


@pytest.mark.parametrize(
    ("make_bad", "fragment"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: make_text_file(p), "not a readable video"),
        (lambda p: truncate(make_clip(p.with_name("whole.mp4"), frames=30), p, keep=0.4), "bad.mp4"),
    ],
    ids=["zero-bytes", "text-named-mp4", "truncated-mp4"],
)
def test_bad_input_gives_one_clear_line_a_nonzero_exit_and_no_output(tmp_path: Path, make_bad, fragment: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.mp4"
    make_bad(bad)
    before = set(tmp_path.iterdir())
    result = veil("anonymize", bad, "--classes", "face")
    assert_one_line_error(result, 2, fragment)
    assert set(tmp_path.iterdir()) == before, "no output and no temporary file left behind"


def test_missing_input_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(veil("anonymize", tmp_path / "nope.mp4"), 2, "no such file")


def test_unreadable_input_is_one_line(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "secret.mp4", frames=4)
    clip.chmod(0o000)
    result = veil("anonymize", clip, "-o", tmp_path / "out.mp4", obey_file_modes=True)
    assert_one_line_error(result, 2, "permission denied")
    assert leftovers(tmp_path, clip) == []


def test_output_folder_without_write_access_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    result = veil("anonymize", clip, "--output-dir", locked, "--classes", "face", obey_file_modes=True)
    locked.chmod(0o755)
    assert_one_line_error(result, 3, "permission denied")
    assert list(locked.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = make_text_file(tmp_path / "bad.mp4")
    result = veil("anonymize", bad, "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    existing = tmp_path / "out.mp4"
    existing.write_bytes(b"keep me")
    assert_one_line_error(veil("anonymize", clip, "-o", existing), 2, "--overwrite")
    assert existing.read_bytes() == b"keep me"


def test_batch_processes_every_good_file_and_reports_the_bad_one(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    make_clip(inputs / "a.mp4", frames=4)
    make_clip(inputs / "b.mkv", frames=4)
    make_text_file(inputs / "c.mp4")
    (inputs / "notes.txt").write_text("not a video, and not picked up from a folder")
    result = veil("anonymize", inputs, "--output-dir", tmp_path / "out", "--classes", "face")
    assert result.returncode == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "b.mkv"]
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr  # a summary per output, the failure, the total
    summaries, failure, total = lines[:2], lines[2], lines[3]
    out = tmp_path / "out"
    assert [line.split(": ")[0] for line in summaries] == [str(out / "a.mp4"), str(out / "b.mkv")]
    assert all(" 4 frames " in line for line in summaries), result.stderr
    assert failure.startswith(f"veil: error: input {inputs / 'c.mp4'} is not a readable video"), result.stderr
    assert total == "veil: 1 of 3 files failed"


def test_success_prints_a_one_line_summary_and_quiet_prints_nothing(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    result = veil("anonymize", clip, "--classes", "face")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "in.anonymized.mp4").exists()
    summary = result.stderr.strip().splitlines()
    assert len(summary) == 1 and "4 frames" in summary[0] and "fps" in summary[0] and "MB" in summary[0]
    quiet = veil("anonymize", clip, "-o", tmp_path / "q.mp4", "--classes", "face", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=8)
    primary, secondary = pty.openpty()
    try:
        result = veil("anonymize", clip, "--classes", "face", stderr=secondary)
        os.close(secondary)
        screen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(primary)
    assert result.returncode == 0
    text = screen.decode(errors="replace")
    assert "8/8" in text and "fps" in text and "eta" in text


def test_help_explains_every_option() -> None:
    result = veil("anonymize", "--help")
    assert result.returncode == 0
    for option in (
        "--output-dir",
        "--classes",
        "--face-threshold",
        "--style",
        "--crf",
        "--keep-metadata",
        "--detections",
        "--frames-dir",
        "--quiet",
        "--debug",
    ):
        assert option in result.stdout


def test_serve_without_the_serve_extra_says_what_to_install() -> None:
    # fastapi made unimportable, as on an install without veil[serve]
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.argv = ['veil', 'serve']; from veil.cli.app import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert_one_line_error(result, 1, "pip install 'veil[serve]'")
