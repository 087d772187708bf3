"""One video end to end: decode -> detect -> fuse -> redact -> encode.

Three threads overlap the work: the decoder fills a bounded channel; the
calling thread runs the detectors and temporal fusion (stateful, so on one
thread); the writer thread redacts and encodes. Fusion looks ahead a few frames,
so decoded frames wait in a small buffer until their coverage is final.

Fail closed: every frame the writer receives carries the coverage fusion decided
for it, any error in any stage stops the run, and the video writer publishes the
file (a rename from a temporary name) only after the last frame and the trailer
are written, and only if every stage succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from veil.detect import Detector, DetectorSettings, build_detectors
from veil.errors import ModelError, OutputError, VeilError
from veil.files import staged_folders
from veil.media import EncoderSettings, VideoFrame, VideoInfo, VideoReader, VideoWriter
from veil.media.orientation import boxes_to_display, boxes_to_stored, display_size, to_display
from veil.pipeline.heap import pin_malloc_thresholds
from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report
from veil.pipeline.schedule import LookSchedule, ScheduleSettings
from veil.pipeline.segments import TRACK_IDS_PER_SEGMENT, Segment
from veil.pipeline.stages import StageGroup
from veil.records import DetectionLog, Detections, VideoMetadata
from veil.redact import Redactor, expand_boxes, make_redactor
from veil.track import FusionSettings, TemporalFusion

CHANNEL_FRAMES = 4
"""Frames waiting between two stages. A few absorb the stages' jitter; each 1080p frame
is 6 MB, and fusion's look-ahead already holds a couple of dozen."""

ProgressCallback = Callable[[int, int | None], None]
"""Called with (frames written, total frames if known) as the output grows."""


class StageTimer:
    """Accumulates seconds of work per stage across threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def measure(self, stage: str):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


def fusion_settings(settings: AnonymizeOptions) -> FusionSettings:
    """Fusion's reach, widened by the frames between looks: with detection on every
    k-th frame, an object first seen at a look may have been there k - 1 frames."""
    between = settings.detect_every - 1
    return FusionSettings(max_gap=settings.max_gap + between, lead=settings.lead + between, trail=settings.trail + between)


def make_detectors(settings: AnonymizeOptions) -> list[Detector]:
    chosen = {name: getattr(settings, name) for name in DetectorSettings.model_fields}
    return build_detectors(DetectorSettings(**{name: value for name, value in chosen.items() if value is not None}))


def single_pass(
    info: VideoInfo,
    destination: Path,
    settings: AnonymizeOptions,
    detectors: Sequence[Detector] | None,
    progress: ProgressCallback | None,
) -> Report:
    """Anonymize the whole video in this process, in one pass."""
    start = time.perf_counter()
    run = VideoRun(info, settings, list(detectors) if detectors is not None else make_detectors(settings), progress)
    run.execute(destination, settings.detections_path)
    return run.report(info.path, destination).finish(start)


class VideoRun:
    """The state of one run, shared by its three stages.

    With a ``segment``, the run decodes and detects the segment's frames with
    their margins (``segment.first`` to ``segment.stop``) but fuses, redacts,
    logs and encodes only its own frames (``segment.start`` to ``segment.end``),
    into a video-only file without rotation: :func:`veil.media.join_segments`
    puts the parts, the rotation and the audio together.
    """

    def __init__(
        self,
        info: VideoInfo,
        settings: AnonymizeOptions,
        detectors: list[Detector],
        progress: ProgressCallback | None,
        segment: Segment | None = None,
    ) -> None:
        self.info = info
        self.segment = segment
        # Track ids restart in every segment; keep them distinct across the document
        # (an object crossing a seam gets one id per segment).
        self._track_id_base = 0 if segment is None else segment.number * TRACK_IDS_PER_SEGMENT
        self.settings = settings
        self.detectors = detectors
        self.progress = progress
        self.stored_size = (info.width, info.height)
        self.redactor: Redactor = make_redactor(settings.style, settings.shape)
        self.padding = {"face": settings.face_padding, "plate": settings.plate_padding}
        self.timer = StageTimer()
        self.seen: dict[str, int] = defaultdict(int)
        self.covered: dict[str, int] = defaultdict(int)
        self.decoded = 0
        self.written = 0
        self.detected_frames = 0
        self.cuts = 0

    def emits(self, index: int) -> bool:
        """Whether frame ``index`` is this run's to write (not a segment's margin)."""
        return self.segment is None or self.segment.start <= index < self.segment.end

    def execute(self, destination: Path, detections_path: Path | None, frames_folders: dict[str, Path] | None = None) -> None:
        """Run all stages; publish the video, detections and frames only if all succeeded.

        ``frames_folders`` are folders (already staged by the caller) for the
        frame images; without them a single pass stages ``frames_dir`` itself.
        """
        pin_malloc_thresholds()
        group = StageGroup()
        decoded = group.channel(maxsize=CHANNEL_FRAMES)
        redact_queue = group.channel(maxsize=CHANNEL_FRAMES)
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(DetectionLog()) if detections_path is not None else None
            frames = frames_folders
            if frames is None and self.segment is None and self.settings.frames_dir is not None:
                frames = stack.enter_context(staged_folders(self.settings.frames_dir, ("images", "mosaic")))
            reader = stack.enter_context(VideoReader(self.info.path, self.info))
            target = self.info if self.segment is None else dataclasses.replace(self.info, audio=(), rotation=0)
            writer = stack.enter_context(VideoWriter(destination, target, self._encoder_settings()))
            group.start("decode", lambda: self._decode(reader, decoded))
            group.start("encode", lambda: self._redact_and_encode(redact_queue, writer, frames))
            group.run_here(lambda: self._detect_and_fuse(decoded, redact_queue, log))
            if self.written != self.decoded:
                raise VeilError(f"internal error: decoded {self.decoded} frames but encoded {self.written}")
            if self.segment is not None and self.written != self.segment.end - self.segment.start:
                raise VeilError(f"internal error: segment {self.segment.number} wrote {self.written} frames, not {self.segment.end - self.segment.start}")
            if log is not None and detections_path is not None:
                log.write(detections_path, VideoMetadata.from_info(self.info))
            try:
                with self.timer.measure("encode"):
                    writer.close()
            except BaseException:
                if detections_path is not None:
                    detections_path.unlink(missing_ok=True)
                raise

    def _encoder_settings(self) -> EncoderSettings:
        # A segment's metadata comes from the source when the parts are joined.
        keep = self.settings.keep_metadata and self.segment is None
        chosen = {"codec": self.settings.codec, "crf": self.settings.crf, "keep_metadata": keep}
        if self.settings.preset is not None:
            chosen["preset"] = self.settings.preset
        return EncoderSettings(**chosen)

    def _decode(self, reader: VideoReader, decoded) -> None:  # type: ignore[no-untyped-def]
        segment = self.segment
        frames = iter(reader) if segment is None else reader.frames_between(segment.seek_pts, segment.pts, segment.first)
        while True:
            with self.timer.measure("decode"):
                frame = next(frames, None)
            if frame is None:
                break
            decoded.put(frame)
            if self.emits(frame.index):
                self.decoded += 1
        decoded.close()

    def _detect_and_fuse(self, decoded, redact_queue, log: DetectionLog | None) -> None:  # type: ignore[no-untyped-def]
        fusion = TemporalFusion(fusion_settings(self.settings))
        schedule = LookSchedule(ScheduleSettings(detect_every=self.settings.detect_every))
        waiting: dict[int, VideoFrame] = {}
        # Fusion counts frames from 0; a segment's first decoded frame is its frame 0.
        offset = 0 if self.segment is None else self.segment.first

        def forward(ready: list[tuple[int, Detections]]) -> None:
            for local, covered in ready:
                frame = waiting.pop(local + offset)
                if not self.emits(frame.index):
                    continue
                # Fusion extends boxes in time (and trailing ones toward where they head);
                # what reaches the log and the redactor is only what lies in the picture.
                covered = covered.inside(*self.stored_size)
                if log is not None:
                    self._log(log, frame, covered)
                redact_queue.put((frame, covered))

        for frame in decoded:
            waiting[frame.index] = frame
            with self.timer.measure("schedule"):
                look = schedule.decide(frame.index, frame.image)
            found = self._detect(frame) if look.detect else None
            if self.emits(frame.index):
                self.detected_frames += look.detect
                self.cuts += look.cut
            with self.timer.measure("track"):
                ready = fusion.push(frame.index - offset, found, cut=look.cut)
            forward(ready)
        with self.timer.measure("track"):
            ready = fusion.flush()
        forward(ready)
        redact_queue.close()

    def _detect(self, frame: VideoFrame) -> Detections:
        upright = to_display(frame.image, self.info.rotation)
        parts = []
        for detector in self.detectors:
            with self.timer.measure(f"detect_{detector.class_name}"):
                try:
                    found = detector.detect(upright)
                except VeilError:
                    raise
                except Exception as error:
                    raise ModelError(f"{detector.class_name} detector failed on frame {frame.index}: {error}") from error
            if self.emits(frame.index):
                self.seen[detector.class_name] += len(found)
            parts.append(Detections(boxes_to_stored(found.boxes, self.info.rotation, self.stored_size), found.scores, found.classes))
        return Detections.merge(parts)

    def _log(self, log: DetectionLog, frame: VideoFrame, covered: Detections) -> None:
        upright = Detections(
            boxes_to_display(covered.boxes, self.info.rotation, self.stored_size),
            covered.scores,
            covered.classes,
            covered.track_ids + self._track_id_base,
            covered.seen,
        )
        log.add(frame.index, round(frame.timestamp_ms), upright, display_size(self.stored_size, self.info.rotation))

    def _redact_and_encode(self, redact_queue, writer: VideoWriter, frames: dict[str, Path] | None) -> None:  # type: ignore[no-untyped-def]
        for frame, covered in redact_queue:
            if frames is not None:
                self._save_png(frames["images"], frame)
            with self.timer.measure("redact"):
                self.redactor.apply(frame.image, self._regions(covered))
            if frames is not None:
                self._save_png(frames["mosaic"], frame)
            with self.timer.measure("encode"):
                writer.write(frame.image, frame.pts)
            self.written += 1
            for name, count in covered.count_by_class().items():
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
            regions.append(expand_boxes(boxes, padding, self.settings.min_box_size, self.stored_size))
        return np.concatenate(regions)

    def _save_png(self, folder: Path, frame: VideoFrame) -> None:
        upright = to_display(frame.image, self.info.rotation)
        path = folder / f"{frame.index:06d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(upright, cv2.COLOR_RGB2BGR)):
            raise OutputError(f"could not write frame image {path}")

    def report(self, source: Path, destination: Path) -> Report:
        return Report(
            source=source,
            output=destination,
            frames=self.written,
            detected_frames=self.detected_frames,
            cuts=self.cuts,
            detections=dict(self.seen),
            covered=dict(self.covered),
            timings={stage: round(seconds, 3) for stage, seconds in self.timer.seconds.items()},
        )
