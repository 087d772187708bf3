"""Long videos in segments: each decoded with margins, anonymized apart, joined by stream copy.

The margins give temporal fusion at a seam the same context a single pass has,
so the joined video and its detections are the ones a single pass would make
(see veil.pipeline.segments for the margin rule and tests/segments for the proof).
Segments run on an :class:`~veil.pipeline.engines.Engine`: this process, or a
pool of worker processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from veil.detect import Detector
from veil.errors import ConfigError, VeilError
from veil.files import scratch_folder, staged_folders
from veil.media import VideoInfo, index_packets, join_segments
from veil.pipeline.engines import Engine, LocalEngine, SerialEngine
from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report
from veil.pipeline.run import ProgressCallback, StageTimer, VideoRun, fusion_settings, make_detectors
from veil.pipeline.segments import MIN_SEGMENT_SECONDS, Segment, plan_segments
from veil.records import VideoMetadata, merge_documents


def plan(info: VideoInfo, settings: AnonymizeOptions, remote: bool = False) -> list[Segment] | None:
    """The segments to process, or None for a single pass in this process.

    For a ``remote`` engine, even a video too short to split is one segment:
    the work goes to the engine and this process only plans and joins.
    """
    seconds = settings.segment_seconds
    if seconds is None:
        long_enough = bool(info.duration_s) and info.duration_s >= 2 * MIN_SEGMENT_SECONDS  # type: ignore[operator]
        if not remote and (settings.jobs == 1 or not long_enough):
            return None
        seconds = max(MIN_SEGMENT_SECONDS, (info.duration_s or 0.0) / settings.jobs)
    index = index_packets(info.path)
    if index.pts is None:
        return None  # frames without pts cannot be addressed for seeking: one pass
    segments = plan_segments(index, info.time_base, seconds, fusion_settings(settings), settings.detect_every)
    return segments if len(segments) > (0 if remote else 1) else None


@dataclasses.dataclass(frozen=True)
class SegmentTask:
    """Everything a worker needs to anonymize one segment (picklable)."""

    info: VideoInfo
    settings: AnonymizeOptions
    segment: Segment
    video: Path  # where to write the segment's video-only file
    detections: Path | None  # where to write its detections JSON
    frames: dict[str, Path] | None  # staged folders for frame images
    detectors: tuple[Detector, ...] | None  # None: the default detectors, loaded once per process

    # What a remote engine moves (see veil.pipeline.engines.FileTask).

    def inputs(self) -> dict[str, Path]:
        return {"source": self.info.path}

    def outputs(self) -> dict[str, Path]:
        files = {"video": self.video}
        if self.detections is not None:
            files["detections"] = self.detections
        return {**files, **(self.frames or {})}

    def relocated(self, paths: Mapping[str, Path]) -> SegmentTask:
        return dataclasses.replace(
            self,
            info=dataclasses.replace(self.info, path=paths["source"]),
            video=paths["video"],
            detections=paths["detections"] if self.detections is not None else None,
            frames={name: paths[name] for name in self.frames} if self.frames is not None else None,
        )


@dataclasses.dataclass(frozen=True)
class SegmentResult:
    number: int
    frames: int
    detected_frames: int
    cuts: int
    seen: dict[str, int]
    covered: dict[str, int]
    timings: dict[str, float]


_LOADED: dict[tuple, list[Detector]] = {}


def _cached_detectors(settings: AnonymizeOptions) -> list[Detector]:
    """The default detectors for these settings, loaded once per process."""
    key = (settings.classes, settings.face_model, settings.plate_model, settings.face_threshold, settings.plate_threshold, settings.threads, settings.precision)
    if key not in _LOADED:
        _LOADED[key] = make_detectors(settings)
    return _LOADED[key]


def run_segment(task: SegmentTask) -> SegmentResult:
    """Anonymize one segment into ``task.video`` (the function engines run)."""
    detectors = list(task.detectors) if task.detectors is not None else _cached_detectors(task.settings)
    run = VideoRun(task.info, task.settings, detectors, None, task.segment)
    run.execute(task.video, task.detections, task.frames)
    return SegmentResult(
        task.segment.number, run.written, run.detected_frames, run.cuts, dict(run.seen), dict(run.covered), dict(run.timer.seconds)
    )


def anonymize_segmented(
    info: VideoInfo,
    destination: Path,
    settings: AnonymizeOptions,
    segments: list[Segment],
    detectors: Sequence[Detector] | None,
    progress: ProgressCallback | None,
    engine: Engine | str | None,
) -> Report:
    start = time.perf_counter()
    owned = engine is None or isinstance(engine, str)  # made here, so closed here
    if engine is None or engine == "local":
        engine = SerialEngine() if settings.jobs == 1 else LocalEngine(settings.jobs)
    elif isinstance(engine, str):
        raise ConfigError(f"unknown engine {engine!r}: name 'local', or pass an Engine (veil.jobs.engines.make_engine makes 'ray')")
    if settings.threads is None and engine.threads is not None:
        settings = settings.model_copy(update={"threads": engine.threads})
    written = 0

    def done(result: SegmentResult) -> None:
        nonlocal written
        written += result.frames
        if progress is not None:
            progress(written, info.frame_count)

    try:
        with contextlib.ExitStack() as stack:
            work = stack.enter_context(scratch_folder(destination.parent))
            frames = None
            if settings.frames_dir is not None:
                frames = stack.enter_context(staged_folders(settings.frames_dir, ("images", "mosaic")))
            # Parts are MP4 whatever the output: it keeps every packet's dts (Matroska keeps
            # pts only), which the join needs to check and keep dts increasing at the seams.
            suffix = ".mp4"
            tasks = [
                SegmentTask(
                    info=info,
                    settings=settings,
                    segment=segment,
                    video=work / f"segment-{segment.number:05d}{suffix}",
                    detections=work / f"segment-{segment.number:05d}.json" if settings.detections_path is not None else None,
                    frames=frames,
                    detectors=tuple(detectors) if detectors is not None else None,
                )
                for segment in segments
            ]
            results = engine.map(run_segment, tasks, done)
            total = sum(result.frames for result in results)
            if total != segments[-1].end:
                raise VeilError(f"internal error: segments wrote {total} frames of {segments[-1].end}")
            timer = StageTimer()
            if settings.detections_path is not None:
                with timer.measure("stitch"):
                    merge_documents([task.detections for task in tasks], settings.detections_path, VideoMetadata.from_info(info))
            try:
                with timer.measure("stitch"):
                    join_segments([task.video for task in tasks], destination, info, settings.keep_metadata, expected_packets=total)
            except BaseException:
                if settings.detections_path is not None:
                    settings.detections_path.unlink(missing_ok=True)
                raise
    finally:
        if owned:
            engine.close()
    timings: dict[str, float] = defaultdict(float)
    seen: dict[str, int] = defaultdict(int)
    covered: dict[str, int] = defaultdict(int)
    for result in results:
        for stage, seconds in result.timings.items():
            timings[stage] += seconds
        for name, count in result.seen.items():
            seen[name] += count
        for name, count in result.covered.items():
            covered[name] += count
    timings.update(timer.seconds)
    return Report(
        source=info.path,
        output=destination,
        frames=total,
        detected_frames=sum(result.detected_frames for result in results),
        cuts=sum(result.cuts for result in results),
        detections=dict(seen),
        covered=dict(covered),
        timings={stage: round(seconds, 3) for stage, seconds in timings.items()},
    ).finish(start)
