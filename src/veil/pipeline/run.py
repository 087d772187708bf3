"""One segment of a video end to end: decode -> detect -> fuse -> redact -> encode.

A single pass is the segment that covers the whole video (:meth:`Segment.whole`);
``veil.parallel`` runs several segments and joins them. Four threads overlap the
work, joined by bounded channels: the decoder; the calling thread, which decides
which frames to look at and runs the detectors on them; the fuser, which measures
the camera's motion and runs temporal fusion (stateful, so on one thread); the
writer, which redacts and encodes. Fusion looks ahead a few frames, so decoded
frames wait in a small buffer until their coverage is final.

Frames stay in the planar YUV they are coded in (:class:`veil.media.VideoFrame`):
the schedule and the motion compare luma, only the frames looked at are turned
into RGB for the detectors, and the writer covers the planes and encodes them as
they are. Converting every frame to RGB and back cost about 7 ms a 720p frame,
and a frame in flight held twice the bytes.

Fail closed: every frame the writer receives carries the coverage fusion decided
for it, and any error in any stage stops the run. The run writes to the paths it
is given; publishing them (all or none) is the caller's (:class:`veil.files.PublishGroup`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from veil.detect import Detector, Glancer
from veil.errors import ModelError, OutputError, VeilError
from veil.media import VideoFrame, VideoInfo, VideoReader, VideoWriter
from veil.media.audio import AudioEdit
from veil.media.orientation import boxes_to_display, boxes_to_stored, display_size, to_display
from veil.pipeline.motion import CameraMotion
from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report
from veil.pipeline.schedule import Look, LookSchedule
from veil.pipeline.segment import Segment
from veil.pipeline.stages import Channel, StageGroup
from veil.records import DetectionLog, Detections, VideoMetadata, as_recorded
from veil.redact import Redactor, expand_boxes, make_redactor
from veil.track import TemporalFusion

CHANNEL_FRAMES = 4
"""Frames waiting between two stages. A few absorb the stages' jitter; each 1080p frame
is 6 MB, and fusion's look-ahead already holds a couple of dozen."""

ProgressCallback = Callable[[int, int | None], None]
"""Called with (frames written, total frames if known) as the output grows."""

Covered = tuple[VideoFrame, Detections]


@dataclasses.dataclass(frozen=True)
class Looked:
    """A decoded frame and what the detectors found in it (None: not looked at)."""

    frame: VideoFrame
    found: Detections | None
    look: Look


NOT_LOOKED = Look(detect=False, cut=False)


class StageTimer:
    """Accumulates seconds of work per stage across threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


@dataclasses.dataclass(frozen=True)
class RunOutputs:
    """Where one run writes.

    ``final``: the video is the finished output (the source's audio, rotation and,
    if asked, metadata); otherwise it is a video-only part that
    :func:`veil.media.join_segments` puts together with the others.
    ``frames``: existing folders ``images`` and ``mosaic`` for per-frame PNGs.
    """

    video: Path
    detections: Path | None = None
    frames: dict[str, Path] | None = None
    final: bool = True


class VideoRun:
    """The state of one run over one segment, shared by its three stages.

    The run decodes and detects the segment's frames with their margins
    (``segment.first`` to ``segment.stop``) but fuses, redacts, logs and
    encodes only its own frames (``segment.start`` to ``segment.end``).
    """

    def __init__(
        self,
        info: VideoInfo,
        options: AnonymizeOptions,
        detectors: list[Detector],
        segment: Segment,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.info = info
        self.options = options
        self.detectors = detectors
        self.segment = segment
        self.progress = progress
        self.stored_size = (info.width, info.height)
        self.redactor: Redactor = make_redactor(options.redact.style, options.redact.shape)
        self.padding = {"face": options.redact.face_padding, "plate": options.redact.plate_padding}
        self.timer = StageTimer()
        self.seen: dict[str, int] = defaultdict(int)
        self.covered: dict[str, int] = defaultdict(int)
        self.audio_edits: tuple[AudioEdit, ...] = ()  # a re-render's muted or bleeped ranges (pipeline.covers)
        self.decoded = 0
        self.written = 0
        self.detected_frames = 0
        self.cuts = 0

    def execute(self, outputs: RunOutputs) -> Report:
        """Run all stages into ``outputs``; raise if any stage failed or a frame went missing."""
        group = StageGroup()
        decoded: Channel[VideoFrame] = group.channel(maxsize=CHANNEL_FRAMES)
        looked: Channel[Looked] = group.channel(maxsize=CHANNEL_FRAMES)
        covered: Channel[Covered] = group.channel(maxsize=CHANNEL_FRAMES)
        log = DetectionLog() if outputs.detections is not None else None
        target = self.info if outputs.final else dataclasses.replace(self.info, audio=(), rotation=0)
        # A part's metadata comes from the source when the parts are joined.
        encoder = (
            self.options.encoder if outputs.final else self.options.encoder.model_copy(update={"keep_metadata": False})
        )
        with contextlib.ExitStack() as stack:
            if log is not None:
                stack.enter_context(log)
            reader = stack.enter_context(VideoReader(self.info.path, self.info))
            writer = stack.enter_context(VideoWriter(outputs.video, target, encoder, self.audio_edits))
            group.start("decode", lambda: self._decode(reader, decoded))
            group.start("fuse", lambda: self._fuse(looked, covered, log))
            group.start("encode", lambda: self._redact_and_encode(covered, writer, outputs.frames))
            group.run_here(lambda: self._look(decoded, looked))
            self._check_counts()
            if log is not None and outputs.detections is not None:
                log.write(outputs.detections, VideoMetadata.from_info(self.info))
            with self.timer.measure("encode"):
                writer.close()
        return self.report()

    def _check_counts(self) -> None:
        if self.written != self.decoded:
            raise VeilError(f"internal error: decoded {self.decoded} frames but encoded {self.written}")
        expected = self.segment.frames
        if expected is not None and self.written != expected:
            raise VeilError(
                f"internal error: segment {self.segment.number} wrote {self.written} frames, not {expected}"
            )

    def _frames(self, reader: VideoReader) -> Iterator[VideoFrame]:
        segment = self.segment
        if segment.pts is None or segment.seek_pts is None:
            return iter(reader)
        return reader.frames_between(segment.seek_pts, segment.pts, segment.first)

    def _decode(self, reader: VideoReader, decoded: Channel[VideoFrame]) -> None:
        frames = self._frames(reader)
        while True:
            with self.timer.measure("decode"):
                frame = next(frames, None)
            if frame is None:
                break
            decoded.put(frame)
            self.decoded += self.segment.writes(frame.index)
        decoded.close()

    def _look(self, decoded: Channel[VideoFrame], looked: Channel[Looked]) -> None:
        """Decide which frames to look at, and how closely; run the detectors on them."""
        schedule = LookSchedule(self.options.schedule)
        for frame in decoded:
            with self.timer.measure("schedule"):
                look = schedule.decide(frame.index, frame.grey())
            found = self._detect(frame, look) if look.detect else None
            if self.segment.writes(frame.index):
                self.detected_frames += look.detect
                self.cuts += look.cut
            looked.put(Looked(frame, found, look))
        looked.close()

    def _fuse(self, looked: Channel[Looked], covered: Channel[Covered], log: DetectionLog | None) -> None:
        """Measure the camera's motion and fuse the detections into each frame's final coverage."""
        glancers = [detector.class_name for detector in self.detectors if isinstance(detector, Glancer)]
        fusion = TemporalFusion(self.options.widened_fusion(), glancing=glancers)
        motion = CameraMotion()
        waiting: dict[int, VideoFrame] = {}
        offset = self.segment.first  # fusion counts frames from 0: the segment's first decoded frame

        def forward(ready: list[tuple[int, Detections]]) -> None:
            for local, boxes in ready:
                frame = waiting.pop(local + offset)
                if not self.segment.writes(frame.index):
                    continue
                # Fusion extends boxes in time (and trailing ones toward where they head);
                # what reaches the log and the redactor is only what lies in the picture.
                boxes = self._as_recorded(boxes.inside(*self.stored_size))
                if log is not None:
                    self._log(log, frame, boxes)
                covered.put((frame, boxes))

        for item in looked:
            frame, look = item.frame, item.look
            waiting[frame.index] = frame
            # On the stored picture, as decoded: the shift is in the pixels of fusion's boxes.
            with self.timer.measure("motion"):
                shift = motion.measure(frame.grey())
            glanced = () if look.close else glancers
            with self.timer.measure("track"):
                ready = fusion.push(frame.index - offset, item.found, cut=look.cut, shift=shift, glanced=glanced)
            forward(ready)
        with self.timer.measure("track"):
            ready = fusion.flush()
        forward(ready)
        covered.close()

    def _detect(self, frame: VideoFrame, how: Look) -> Detections:
        upright = to_display(frame.to_rgb(), self.info.rotation)
        parts = []
        for detector in self.detectors:
            if isinstance(detector, Glancer) and not how.close:
                if not how.regular:
                    continue  # a look for a change of picture is for faces coming in (veil.pipeline.schedule)
                run = detector.glance
            else:
                run = detector.detect
            with self.timer.measure(f"detect_{detector.class_name}"):
                try:
                    found = run(upright)
                except VeilError:
                    raise
                except Exception as error:
                    raise ModelError(
                        f"{detector.class_name} detector failed on frame {frame.index}: {error}"
                    ) from error
            if self.segment.writes(frame.index):
                self.seen[detector.class_name] += len(found)
            boxes = boxes_to_stored(found.boxes, self.info.rotation, self.stored_size)
            parts.append(Detections(boxes, found.scores, found.classes))
        return Detections.merge(parts)

    def _as_recorded(self, boxes: Detections) -> Detections:
        """``boxes`` as the detections document records them: a re-render from it covers the same pixels."""
        rotation, stored = self.info.rotation, self.stored_size
        display = as_recorded(boxes_to_display(boxes.boxes, rotation, stored), display_size(stored, rotation))
        return dataclasses.replace(boxes, boxes=boxes_to_stored(display, rotation, stored))

    def _log(self, log: DetectionLog, frame: VideoFrame, covered: Detections) -> None:
        upright = Detections(
            boxes_to_display(covered.boxes, self.info.rotation, self.stored_size),
            covered.scores,
            covered.classes,
            covered.track_ids + self.segment.track_id_base,
            covered.seen,
        )
        log.add(frame.index, round(frame.timestamp_ms), upright, display_size(self.stored_size, self.info.rotation))

    def _redact_and_encode(
        self, covered: Channel[Covered], writer: VideoWriter, frames: dict[str, Path] | None
    ) -> None:
        planar_colour = functools.cache(writer.layout.planar_colour)
        for frame, boxes in covered:
            if frames is not None:
                self._save_png(frames["images"], frame)
            with self.timer.measure("redact"):
                self.redactor.apply_planes(frame.planes, self._regions(boxes), planar_colour)
            if frames is not None:
                self._save_png(frames["mosaic"], frame)
            with self.timer.measure("encode"):
                writer.write_yuv(frame.yuv, frame.pts)
            self.written += 1
            for name, count in boxes.count_by_class().items():
                self.covered[name] += count
            if self.progress is not None:
                self.progress(self.written, self.info.frame_count)

    def _regions(self, covered: Detections) -> np.ndarray:
        """Pixel regions to cover: every box, grown by its class's padding.

        A class without its own padding (from a custom detector) gets the
        largest padding, never none: every box the detectors found is covered.
        """
        regions = [np.empty((0, 4), np.int32)]
        for name in np.unique(covered.classes.astype(str)):
            padding = self.padding.get(name, max(self.padding.values()))
            boxes = covered.boxes[covered.classes == name]
            regions.append(expand_boxes(boxes, padding, self.options.redact.min_box_size, self.stored_size))
        return np.concatenate(regions)

    def _save_png(self, folder: Path, frame: VideoFrame) -> None:
        upright = to_display(frame.to_rgb(), self.info.rotation)
        path = folder / f"{frame.index:06d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(upright, cv2.COLOR_RGB2BGR)):
            raise OutputError(f"could not write frame image {path}")

    def report(self) -> Report:
        """What this run did (no wall time or sizes: those belong to the whole video)."""
        return Report(
            source=self.info.path,
            output=None,
            frames=self.written,
            detected_frames=self.detected_frames,
            cuts=self.cuts,
            detections=dict(self.seen),
            covered=dict(self.covered),
            timings=dict(self.timer.seconds),
        )
