"""One video on one or many workers: stage the outputs, run the segments, join, publish.

A video that is not split runs as one segment covering it all, in this
process. A split video (see :mod:`veil.parallel.plan`) runs its segments on an
engine, each into a video-only part with margins that give temporal fusion at
a seam the context a single pass has, and the parts are joined by stream copy:
the joined video and detections are the ones a single pass makes (tests/segments
proves it). Either way every output (video, detections JSON, frame images) is
published together at the end, or not at all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from veil.detect import POOL, Detector
from veil.errors import VeilError
from veil.files import PublishGroup, scratch_folder
from veil.media import VideoInfo, join_segments, probe
from veil.parallel.engines import Engine, EngineChoice, open_engine
from veil.parallel.plan import plan
from veil.pipeline import AnonymizeOptions, Report
from veil.pipeline.run import ProgressCallback, RunOutputs, StageTimer, VideoRun
from veil.pipeline.segment import Segment
from veil.records import VideoMetadata, merge_documents


def anonymize(
    source: str | Path,
    destination: str | Path,
    *,
    options: AnonymizeOptions | None = None,
    detectors: Sequence[Detector] | None = None,
    progress: ProgressCallback | None = None,
    engine: EngineChoice = None,
    **flat_options: object,
) -> Report:
    """Cover every face and plate of ``source`` and write the result to ``destination``.

    Options come as one :class:`AnonymizeOptions` (``options``), as flat keywords
    (``crf=20``, ``classes="face"``, any field of its groups), or both (the
    keywords change ``options``). ``detectors`` replaces the default detectors
    (any objects with ``class_name`` and ``detect(image) -> Detections``; an
    empty list re-encodes without covering anything, the floor that benchmarks
    compare against). Raises a :class:`veil.errors.VeilError` subclass on bad
    input, a missing model, a failed detector or an unwritable output; then no
    output exists (or each keeps its old content).

    Long videos can be split into segments processed apart and joined without a
    second encode (the same frames and covers as one pass): with
    ``segment_seconds``, or with ``jobs`` above 1 (segments of ``duration / jobs``, at least
    :data:`~veil.parallel.plan.MIN_SEGMENT_SECONDS`). ``engine`` runs the
    segments: ``"local"`` or None (a pool of ``jobs`` processes; this process
    when ``jobs`` is 1) or an :class:`~veil.parallel.engines.Engine` that the
    caller keeps open, such as ``veil.parallel.make_engine("ray", ...)``; a
    remote engine like Ray gets every video, even one that makes a single
    segment. Custom ``detectors`` must then be picklable, and a script that runs
    with ``jobs`` above 1 must call veil under ``if __name__ == "__main__":``
    (worker processes are spawned and import the script). Segmented detections
    JSON has the same records as one pass, except that ``TrackId`` restarts per
    segment at ``segment * veil.pipeline.segment.TRACK_IDS_PER_SEGMENT``.
    """
    started = time.perf_counter()
    options = AnonymizeOptions.build(options, **flat_options)
    source, destination = Path(source), Path(destination)
    info = probe(source)
    with open_engine(engine, options.parallel.jobs) as runner:
        options = AnonymizeOptions.build(options, jobs=runner.jobs)
        segments = plan(info, options, remote=runner.remote)
        with PublishGroup() as group:
            outputs = _stage(group, destination, options)
            if segments[0].is_whole:
                report = _run_here(info, options, segments[0], outputs, detectors, progress)
            else:
                report = _run_segments(info, options, segments, outputs, detectors, progress, runner)
    return report.finish(source, destination, started)


def _stage(group: PublishGroup, destination: Path, options: AnonymizeOptions) -> RunOutputs:
    """Staged paths for every output; frames first and detections last, the order they are published in."""
    output = options.output
    frames = group.folders(output.frames_dir, ("images", "mosaic")) if output.frames_dir is not None else None
    video = group.file(destination)
    detections = group.file(output.detections_path) if output.detections_path is not None else None
    return RunOutputs(video=video, detections=detections, frames=frames, final=True)


def _run_here(
    info: VideoInfo,
    options: AnonymizeOptions,
    segment: Segment,
    outputs: RunOutputs,
    detectors: Sequence[Detector] | None,
    progress: ProgressCallback | None,
) -> Report:
    chosen = list(detectors) if detectors is not None else POOL.detectors(options.detector)
    return VideoRun(info, options, chosen, segment, progress).execute(outputs)


@dataclasses.dataclass(frozen=True)
class SegmentTask:
    """Everything a worker needs to anonymize one segment into a part (picklable)."""

    info: VideoInfo
    options: AnonymizeOptions
    segment: Segment
    outputs: RunOutputs
    detectors: tuple[Detector, ...] | None  # None: the default detectors, from this process's pool

    # What a remote engine moves (see veil.parallel.engines.FileTask).

    def input_files(self) -> dict[str, Path]:
        return {"source": self.info.path}

    def output_files(self) -> dict[str, Path]:
        files = {"video": self.outputs.video}
        if self.outputs.detections is not None:
            files["detections"] = self.outputs.detections
        return {**files, **(self.outputs.frames or {})}

    def relocated(self, paths: Mapping[str, Path]) -> SegmentTask:
        outputs = dataclasses.replace(
            self.outputs,
            video=paths["video"],
            detections=paths["detections"] if self.outputs.detections is not None else None,
            frames={name: paths[name] for name in self.outputs.frames} if self.outputs.frames is not None else None,
        )
        return dataclasses.replace(self, info=dataclasses.replace(self.info, path=paths["source"]), outputs=outputs)


def run_segment(task: SegmentTask) -> Report:
    """Anonymize one segment into its part (the function engines run)."""
    detectors = list(task.detectors) if task.detectors is not None else POOL.detectors(task.options.detector)
    return VideoRun(task.info, task.options, detectors, task.segment).execute(task.outputs)


def _run_segments(
    info: VideoInfo,
    options: AnonymizeOptions,
    segments: list[Segment],
    outputs: RunOutputs,
    detectors: Sequence[Detector] | None,
    progress: ProgressCallback | None,
    engine: Engine,
) -> Report:
    """Run the segments on ``engine`` into parts, then join the parts into ``outputs``."""
    written = 0

    def done(result: Report) -> None:
        nonlocal written
        written += result.frames
        if progress is not None:
            progress(written, info.frame_count)

    if options.detector.threads is None:  # the engine's share of the cores
        options = AnonymizeOptions.build(options, threads=engine.threads)
    with scratch_folder(outputs.video.parent) as work:
        tasks = [_task(info, options, segment, outputs, work, detectors) for segment in segments]
        report = Report.combine(engine.map(run_segment, tasks, done))
        timer = StageTimer()
        with timer.measure("stitch"):
            _join(info, options, tasks, outputs, report.frames, segments[-1])
    report.timings["stitch"] = timer.seconds["stitch"]
    return report


def _task(
    info: VideoInfo,
    options: AnonymizeOptions,
    segment: Segment,
    outputs: RunOutputs,
    work: Path,
    detectors: Sequence[Detector] | None,
) -> SegmentTask:
    # Parts are MP4 whatever the output: it keeps every packet's dts (Matroska keeps
    # pts only), which the join needs to check and keep dts increasing at the seams.
    name = f"segment-{segment.number:05d}"
    part = RunOutputs(
        video=work / f"{name}.mp4",
        detections=work / f"{name}.json" if outputs.detections is not None else None,
        frames=outputs.frames,
        final=False,
    )
    return SegmentTask(info, options, segment, part, tuple(detectors) if detectors is not None else None)


def _join(
    info: VideoInfo,
    options: AnonymizeOptions,
    tasks: list[SegmentTask],
    outputs: RunOutputs,
    frames: int,
    last: Segment,
) -> None:
    if frames != last.end:
        raise VeilError(f"internal error: segments wrote {frames} frames of {last.end}")
    if outputs.detections is not None:
        parts = [task.outputs.detections for task in tasks if task.outputs.detections is not None]
        merge_documents(parts, outputs.detections, VideoMetadata.from_info(info))
    videos = [task.outputs.video for task in tasks]
    join_segments(videos, outputs.video, info, options.encoder.keep_metadata, expected_packets=frames)
