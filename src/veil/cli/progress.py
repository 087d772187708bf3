"""Progress bars on a terminal (one per file plus an overall one), silence elsewhere."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class FpsColumn(ProgressColumn):
    """Frames per second of the task so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} fps" if speed else "  ... fps", style="progress.data.speed")


class BatchProgress:
    """One bar per file and an overall bar in frames; a no-op when not shown."""

    def __init__(self, show: bool, files: int) -> None:
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._current: TaskID | None = None
        if show:
            self._progress = Progress(
                TextColumn("{task.description}", style="bold"),
                BarColumn(),
                MofNCompleteColumn(),
                FpsColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            if files > 1:
                self._overall = self._progress.add_task(f"all {files} files", total=None)

    @contextlib.contextmanager
    def running(self) -> Iterator[BatchProgress]:
        if self._progress is None:
            yield self
            return
        with self._progress:
            yield self

    def set_overall_total(self, frames: int | None) -> None:
        if self._progress is not None and self._overall is not None:
            self._progress.update(self._overall, total=frames)

    def start_file(self, name: str, total_frames: int | None) -> None:
        if self._progress is None:
            return
        self._current = self._progress.add_task(name, total=total_frames)
        self._done_in_file = 0

    def advance_file(self, frames_done: int, total: int | None) -> None:
        if self._progress is None or self._current is None:
            return
        step = frames_done - self._done_in_file
        self._done_in_file = frames_done
        self._progress.update(self._current, completed=frames_done, total=total)
        if self._overall is not None:
            self._progress.advance(self._overall, step)

    def finish_file(self) -> None:
        if self._progress is None or self._current is None:
            return
        task = self._progress.tasks[self._current]
        self._progress.update(self._current, total=task.completed)

    def print(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, highlight=False, markup=False)
        else:
            print(message, file=sys.stderr)


def should_show_bars(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
