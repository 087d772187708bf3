"""Render a video from given covers, without running a detector: the re-render after a review.

:class:`CoverRun` is a :class:`~veil.pipeline.run.VideoRun` whose detect-and-fuse
stages are replaced by a look-up: each decoded frame gets exactly the covers asked
for it (boxes as fractions of the displayed frame, see :mod:`veil.records.review`).
Decoding, redaction, encoding (with the same options) and the detections JSON
are the run's own, so a re-render with the covers of a first run covers the
same pixels. Reviewer-made regions and masks are covered exactly as drawn (no
padding); face and plate boxes get their class's padding, as in the first run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from veil.media import VideoFrame, VideoInfo, probe
from veil.media.audio import AudioEdit
from veil.media.orientation import boxes_to_stored
from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report
from veil.pipeline.run import NOT_LOOKED, Covered, Looked, ProgressCallback, RunOutputs, VideoRun
from veil.pipeline.segment import Segment
from veil.pipeline.stages import Channel
from veil.records import DetectionLog, Detections, pixels_of
from veil.records.review import EXACT_CLASSES, Cover


class CoverRun(VideoRun):
    """A whole-video run that covers ``covers[frame index]`` on each frame and detects nothing."""

    def __init__(
        self,
        info: VideoInfo,
        options: AnonymizeOptions,
        covers: Mapping[int, Sequence[Cover]],
        progress: ProgressCallback | None = None,
        audio: Sequence[tuple[int, int, bool]] = (),
    ) -> None:
        super().__init__(info, options, [], Segment.whole(), progress)
        self.covers = covers
        self.audio_edits = tuple(_audio_edit(info, *frames) for frames in audio)

    def _look(self, decoded: Channel[VideoFrame], looked: Channel[Looked]) -> None:
        """Nothing to look at: every frame goes straight on to the covers' look-up."""
        for frame in decoded:
            looked.put(Looked(frame, None, NOT_LOOKED))
        looked.close()

    def _fuse(self, looked: Channel[Looked], covered: Channel[Covered], log: DetectionLog | None) -> None:
        for item in looked:
            frame = item.frame
            with self.timer.measure("track"):
                boxes = self._detections(self.covers.get(frame.index, ())).inside(*self.stored_size)
            if log is not None:
                self._log(log, frame, boxes)
            covered.put((frame, boxes))
        covered.close()

    def _detections(self, covers: Sequence[Cover]) -> Detections:
        """The covers in stored pixels (the frame as decoded, before display rotation)."""
        if not covers:
            return Detections.empty()
        display = pixels_of(np.array([cover.box for cover in covers], np.float32), self.info.display_size)
        return Detections(
            boxes_to_stored(display, self.info.rotation, self.stored_size),
            np.array([cover.score for cover in covers], np.float32),
            np.array([cover.class_name for cover in covers], object),
            np.array([cover.track_id for cover in covers], np.int64),
            np.array([cover.seen for cover in covers], bool),
        )

    def _regions(self, covered: Detections) -> np.ndarray:
        exact = np.isin(covered.classes.astype(str), EXACT_CLASSES)
        padded = super()._regions(covered[~exact])
        boxes = covered.boxes[exact]
        width, height = self.stored_size
        drawn = np.stack(
            [
                np.clip(np.floor(boxes[:, 0]), 0, width),
                np.clip(np.floor(boxes[:, 1]), 0, height),
                np.clip(np.ceil(boxes[:, 2]), 0, width),
                np.clip(np.ceil(boxes[:, 3]), 0, height),
            ],
            axis=1,
        ).astype(np.int32)
        return np.concatenate([padded, drawn.reshape(-1, 4)])


def _audio_edit(info: VideoInfo, first: int, last: int, bleep: bool) -> AudioEdit:
    """Frames ``first``..``last`` as seconds, at the video's average frame rate (exact for constant-rate video)."""
    rate = float(info.average_rate or 25)
    return AudioEdit(first / rate, (last + 1) / rate, bleep)


def render_covers(
    source: str | Path,
    video: str | Path,
    covers: Mapping[int, Sequence[Cover]],
    *,
    options: AnonymizeOptions,
    detections: str | Path | None = None,
    progress: ProgressCallback | None = None,
    audio: Sequence[tuple[int, int, bool]] = (),
) -> Report:
    """Write ``video`` (and the ``detections`` JSON of what was covered) from ``source`` and ``covers``.

    ``audio``: frame ranges (inclusive) whose sound is muted, or bleeped where the flag is true.

    The caller publishes the files (they are written where it says, not atomically).
    """
    info = probe(source)
    outputs = RunOutputs(video=Path(video), detections=Path(detections) if detections is not None else None)
    return CoverRun(info, options, covers, progress, audio).execute(outputs)
