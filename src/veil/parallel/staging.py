"""A task's files carried through an object store, for workers that share no filesystem with the driver.

The driver (:class:`Staging`) uploads every input file once, under a scratch
prefix of its own. A worker (:func:`run_staged`) downloads its task's inputs
into a scratch folder of its own process, runs the task there unchanged (the
same function a local pool runs), uploads what it wrote under a key of its own
attempt and returns the keys. The driver downloads them to where the task
would have written them and, at the end, deletes the whole prefix, parts of
attempts that died half-way included. Through the engine itself travel only
tasks, keys and small results; video bytes go through the store.
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import re
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from veil.errors import ConfigError, StorageError
from veil.parallel.engines import FileTask
from veil.storage import LocalStoreSpec, ObjectStore, S3StoreSpec, StoreSpec

log = logging.getLogger(__name__)

T = TypeVar("T", bound=FileTask)
R = TypeVar("R")

SCRATCH_PREFIX = "veil-scratch"


@dataclasses.dataclass(frozen=True)
class Scratch:
    """Where a remote engine stages files: a store every node can reach, a bucket in it, a key prefix."""

    store: StoreSpec
    bucket: str
    prefix: str = SCRATCH_PREFIX

    @classmethod
    def parse(cls, location: str, s3_endpoint: str | None = None, s3_region: str | None = None) -> Scratch:
        """``s3://BUCKET[/PREFIX]`` (at ``s3_endpoint``, or AWS) or a folder (bucket ``scratch`` in it)."""
        if location.startswith("s3://"):
            bucket, _, prefix = location.removeprefix("s3://").partition("/")
            if not bucket:
                raise ConfigError(
                    f"scratch location {location!r} names no bucket; use s3://BUCKET or s3://BUCKET/PREFIX"
                )
            return cls(S3StoreSpec(s3_endpoint, s3_region), bucket, prefix.strip("/") or SCRATCH_PREFIX)
        if "://" in location:
            raise ConfigError(f"scratch location {location!r} is neither s3://BUCKET nor a folder")
        return cls(LocalStoreSpec(str(Path(location).resolve())), "scratch")


@dataclasses.dataclass(frozen=True)
class Parcel:
    """What one attempt uploaded: per output name, ``(key, path inside the output folder)`` ("" for a file)."""

    files: dict[str, tuple[tuple[str, str], ...]]


@dataclasses.dataclass(frozen=True)
class StagedTask(Generic[T]):
    """A task and where its files are in the store: what a remote worker receives."""

    task: T
    store: StoreSpec
    bucket: str
    inputs: dict[str, str]  # input name -> key
    folders: frozenset[str]  # the outputs that are folders
    prefix: str  # each attempt uploads under prefix/<attempt>/


def run_staged(function: Callable[[T], R], staged: StagedTask[T]) -> tuple[R, Parcel]:
    """Run ``function`` on the task in a scratch folder of this process; upload what it wrote (the worker's side)."""
    store = staged.store.open()
    with tempfile.TemporaryDirectory(prefix="veil-task-") as folder:
        work = Path(folder)
        (work / "in").mkdir()
        (work / "out").mkdir()
        paths: dict[str, Path] = {}
        for name, key in staged.inputs.items():
            paths[name] = work / "in" / posixpath.basename(key)
            store.download(staged.bucket, key, paths[name])
        outputs = staged.task.output_files()
        for name, original in outputs.items():
            paths[name] = work / "out" / (name if name in staged.folders else f"{name}{original.suffix}")
            if name in staged.folders:
                paths[name].mkdir()
        result = function(staged.task.relocated(paths))
        attempt = f"{staged.prefix}/{uuid.uuid4().hex[:12]}"
        parcel = Parcel(
            {
                name: _upload(store, staged.bucket, f"{attempt}/{name}", paths[name], name in staged.folders)
                for name in outputs
            }
        )
    return result, parcel


def _upload(store: ObjectStore, bucket: str, key: str, path: Path, folder: bool) -> tuple[tuple[str, str], ...]:
    if not folder:
        store.upload(bucket, key + path.suffix, path)
        return ((key + path.suffix, ""),)
    files = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        store.upload(bucket, f"{key}/{relative}", file)
        files.append((f"{key}/{relative}", relative))
    return tuple(files)


class Staging:
    """The driver's side for one map: inputs up once, each task's outputs down, the prefix removed at the end."""

    def __init__(self, store: ObjectStore, scratch: Scratch) -> None:
        self.store = store
        self.scratch = scratch
        self.prefix = f"{scratch.prefix}/{uuid.uuid4().hex}"

    def stage_in(self, tasks: Sequence[T]) -> list[StagedTask[T]]:
        """Upload the tasks' input files (each distinct file once); the requests workers receive."""
        keys: dict[Path, str] = {}
        staged = []
        for index, task in enumerate(tasks):
            inputs = {}
            for name, path in task.input_files().items():
                if path not in keys:
                    keys[path] = f"{self.prefix}/in/{len(keys)}-{name}{_plain_suffix(path)}"
                    self.store.upload(self.scratch.bucket, keys[path], path)
                inputs[name] = keys[path]
            folders = frozenset(name for name, path in task.output_files().items() if path.is_dir())
            staged.append(
                StagedTask(task, self.scratch.store, self.scratch.bucket, inputs, folders, f"{self.prefix}/out/{index}")
            )
        return staged

    def stage_out(self, task: FileTask, parcel: Parcel) -> None:
        """Download what a task's worker uploaded to where the task names its outputs."""
        outputs = task.output_files()
        for name, files in parcel.files.items():
            for key, relative in files:
                target = outputs[name] / relative if relative else outputs[name]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.store.download(self.scratch.bucket, key, target)

    def clean(self) -> None:
        """Delete every key under this map's prefix; a failure is logged (the parts are then left in the store)."""
        try:
            for info in list(self.store.list_objects(self.scratch.bucket, self.prefix + "/")):
                self.store.delete(self.scratch.bucket, info.key)
        except StorageError as error:
            log.warning("could not remove the scratch parts under %s/%s: %s", self.scratch.bucket, self.prefix, error)


def _plain_suffix(path: Path) -> str:
    """The file's extension if it is a plain one (demuxers use it as a hint), else none."""
    return path.suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", path.suffix) else ""
