"""``veil.anonymize``: one video, in one pass or in segments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from veil.detect import Detector
from veil.media import probe
from veil.pipeline.engines import Engine
from veil.pipeline.options import AnonymizeOptions
from veil.pipeline.report import Report
from veil.pipeline.run import ProgressCallback, single_pass
from veil.pipeline.segmented import anonymize_segmented, plan


def anonymize(
    source: str | Path,
    destination: str | Path,
    *,
    detectors: Sequence[Detector] | None = None,
    progress: ProgressCallback | None = None,
    engine: Engine | Literal["local"] | None = None,
    **options: object,
) -> Report:
    """Cover every face and plate of ``source`` and write the result to ``destination``.

    ``options`` are the fields of :class:`AnonymizeOptions`. ``detectors``
    replaces the default detectors (any objects with ``class_name`` and
    ``detect(image) -> Detections``; an empty list re-encodes without covering
    anything, the floor that benchmarks compare against). Raises a :class:`veil.errors.VeilError`
    subclass on bad input, a missing model, a failed detector or an unwritable
    output; ``destination`` then does not exist (or keeps its old content).

    Long videos can be split into segments processed apart and joined without
    a second encode (the same video as one pass): with ``segment_seconds``, or
    with ``jobs`` above 1 (segments of ``duration / jobs``, at least
    :data:`~veil.pipeline.segments.MIN_SEGMENT_SECONDS`). A video that makes a
    single segment runs as one pass. ``engine`` runs the segments: ``"local"``
    (the default: a pool of ``jobs`` processes; in this process when ``jobs`` is
    1) or an :class:`~veil.pipeline.engines.Engine` (kept open for the caller),
    such as ``veil.jobs.engines.make_engine("ray", ...)``; a remote engine like
    Ray gets every video, even one that makes a single segment.
    Custom ``detectors`` must then be picklable, and a script that runs with
    ``jobs`` above 1 must call veil under ``if __name__ == "__main__":`` (worker
    processes are spawned and import the script). Segmented detections JSON has
    the same records as one pass, except that ``TrackId`` restarts per segment at
    ``segment * veil.pipeline.segments.TRACK_IDS_PER_SEGMENT``.
    """
    settings = AnonymizeOptions.build(**options)
    source, destination = Path(source), Path(destination)
    info = probe(source)
    segments = plan(info, settings, remote=engine is not None and not isinstance(engine, str) and engine.remote)
    if segments is not None:
        return anonymize_segmented(info, destination, settings, segments, detectors, progress, engine)
    return single_pass(info, destination, settings, detectors, progress)

