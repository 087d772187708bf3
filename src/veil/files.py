"""Local-file outputs that appear atomically: complete, or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from veil.errors import OutputError, reason

PARTIAL_PREFIX = ".veil-partial-"
"""Names of files and folders being written: hidden, and never taken for a finished output."""


class AtomicFile:
    """A temporary file beside ``destination`` that becomes it on :meth:`publish`.

    The temporary file lives in the same folder (so the final rename is atomic
    on POSIX and Windows) and keeps the destination's extension (so muxers that
    guess the format from the name still work). :meth:`discard` removes it and
    leaves ``destination`` untouched.
    """

    def __init__(self, destination: str | os.PathLike[str]) -> None:
        self.destination = Path(destination)
        folder = self.destination.parent if str(self.destination.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError("output folder {path} does not exist", path=folder)
        try:
            handle, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=self.destination.suffix, dir=folder)
        except OSError as error:
            raise OutputError(
                "cannot write to output folder {path}: {reason}", path=folder, reason=reason(error)
            ) from None
        os.close(handle)
        self.temporary = Path(name)
        os.chmod(self.temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual mode

    def publish(self) -> None:
        """Flush the finished file to disk and rename it into place."""
        try:
            with open(self.temporary, "rb+") as written:
                os.fsync(written.fileno())
            os.replace(self.temporary, self.destination)
        except OSError as error:
            self.discard()
            raise OutputError("cannot write {path}: {reason}", path=self.destination, reason=reason(error)) from None

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place if the block succeeds."""
    output = AtomicFile(destination)
    try:
        yield output.temporary
    except BaseException:
        output.discard()
        raise
    output.publish()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_folders(parent: str | os.PathLike[str], names: tuple[str, ...]) -> Iterator[dict[str, Path]]:
    """Yield empty staging folders for ``parent/<name>``; move them into place if the block succeeds.

    Staging happens in a hidden folder inside ``parent``, so the moves are
    renames. Existing ``parent/<name>`` folders are replaced only on success; on
    failure the staged files are removed and ``parent`` is as it was.
    """
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError("cannot create folder {path}: {reason}", path=parent, reason=reason(error)) from None
    with scratch_folder(parent) as staging:
        folders = {name: staging / name for name in names}
        for folder in folders.values():
            folder.mkdir()
        yield folders
        for name, folder in folders.items():
            final = parent / name
            if final.exists():
                final.rename(staging / f".old-{name}")
            folder.rename(final)


@contextlib.contextmanager
def scratch_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden temporary folder inside ``folder`` (so moves out of it are renames), removed afterwards."""
    folder = Path(folder) if str(folder) else Path(".")
    if not folder.is_dir():
        raise OutputError("output folder {path} does not exist", path=folder)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=folder))
    except OSError as error:
        raise OutputError("cannot write to output folder {path}: {reason}", path=folder, reason=reason(error)) from None
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
