"""What one run did, for people (the summary line) and programs (the fields)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Report:
    """The outcome of :func:`veil.anonymize`."""

    source: Path
    output: Path
    frames: int = 0
    detected_frames: int = 0  # frames the detectors looked at (veil.pipeline.schedule)
    cuts: int = 0  # frames found to start a new shot
    detections: dict[str, int] = field(default_factory=dict)  # seen by the detector, per class
    covered: dict[str, int] = field(default_factory=dict)  # covered regions incl. inferred, per class
    timings: dict[str, float] = field(default_factory=dict)  # seconds of work per stage
    wall_seconds: float = 0.0
    input_bytes: int = 0
    output_bytes: int = 0

    def finish(self, started: float) -> Report:
        """Fill in the wall time since ``started`` (a perf_counter reading) and the file sizes."""
        self.wall_seconds = time.perf_counter() - started
        self.input_bytes = self.source.stat().st_size
        self.output_bytes = self.output.stat().st_size
        return self

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def size_ratio(self) -> float:
        return self.output_bytes / self.input_bytes if self.input_bytes else 0.0

    def summary(self) -> str:
        found = ", ".join(f"{name} {count}" for name, count in sorted(self.detections.items())) or "none"
        return (
            f"{self.output}: {self.frames} frames ({self.detected_frames} detected), detections: {found}, "
            f"{self.fps:.1f} fps, {self.output_bytes / 1e6:.1f} MB ({self.size_ratio:.2f}x input)"
        )
