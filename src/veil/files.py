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


class StagedFolders:
    """Empty folders staged for ``parent/<name>`` that replace those on :meth:`publish`.

    Staging happens in a hidden folder inside ``parent``, so the moves are
    renames. Existing ``parent/<name>`` folders are replaced only on publish; on
    :meth:`discard` the staged files are removed and ``parent`` is as it was.
    """

    def __init__(self, parent: str | os.PathLike[str], names: tuple[str, ...]) -> None:
        self.parent = Path(parent)
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError("cannot create folder {path}: {reason}", path=self.parent, reason=reason(error)) from None
        self._staging = _hidden_folder(self.parent)
        self.folders = {name: self._staging / name for name in names}
        for folder in self.folders.values():
            folder.mkdir()

    def publish(self) -> None:
        for name, folder in self.folders.items():
            final = self.parent / name
            if final.exists():
                final.rename(self._staging / f".old-{name}")
            folder.rename(final)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)


class PublishGroup:
    """Outputs staged under hidden temporary names that appear together at the end, or not at all.

    ``with PublishGroup() as group:`` stage files (:meth:`file`) and folders
    (:meth:`folders`), write them, and leave the block: on success every output
    is renamed into place, in the order it was staged (stage a completion mark,
    such as the detections JSON, last); on an error every staged output is
    removed and the destinations keep what they had.
    """

    def __init__(self) -> None:
        self._staged: list[AtomicFile | StagedFolders] = []

    def file(self, destination: str | os.PathLike[str]) -> Path:
        """A temporary path beside ``destination`` that becomes it on commit."""
        staged = AtomicFile(destination)
        self._staged.append(staged)
        return staged.temporary

    def folders(self, parent: str | os.PathLike[str], names: tuple[str, ...]) -> dict[str, Path]:
        """Empty staging folders that become ``parent/<name>`` on commit."""
        staged = StagedFolders(parent, names)
        self._staged.append(staged)
        return staged.folders

    def __enter__(self) -> PublishGroup:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            self.discard()
            return
        try:
            for staged in self._staged:
                staged.publish()
        finally:
            self.discard()  # what is published is no longer staged; anything left after a failed rename goes

    def discard(self) -> None:
        for staged in self._staged:
            staged.discard()


@contextlib.contextmanager
def scratch_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden temporary folder inside ``folder`` (so moves out of it are renames), removed afterwards."""
    folder = Path(folder) if str(folder) else Path(".")
    if not folder.is_dir():
        raise OutputError("output folder {path} does not exist", path=folder)
    scratch = _hidden_folder(folder)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _hidden_folder(folder: Path) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=folder))
    except OSError as error:
        raise OutputError("cannot write to output folder {path}: {reason}", path=folder, reason=reason(error)) from None
