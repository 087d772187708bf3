"""Local-file outputs that appear atomically: complete, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from veil.errors import OutputError


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success.

    The temporary file lives in the same folder (so the final rename is atomic
    on POSIX and Windows) and keeps the destination's extension (so muxers that
    guess the format from the name still work). If the block raises, the
    temporary file is removed and ``destination`` is left untouched.
    """
    destination = Path(destination)
    folder = destination.parent if str(destination.parent) else Path(".")
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{destination.stem}.", suffix=f".partial{destination.suffix}", dir=folder
        )
    except FileNotFoundError as error:
        raise OutputError(f"output folder {folder} does not exist") from error
    except PermissionError as error:
        raise OutputError(f"cannot write to output folder {folder}: permission denied") from error
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield temporary
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
