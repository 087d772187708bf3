"""Joining encoded parts by stream copy: exact pts, valid dts at seams where B-frames would clash."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import av
import pytest

from tests.segments.fakes import draw, write_clip
from veil.errors import OutputError
from veil.media import EncoderSettings, VideoReader, VideoWriter, join_segments, probe


def packets(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(p.pts, p.dts) for p in container.demux(container.streams.video[0]) if p.size]


def test_join_moves_clashing_dts_and_keeps_every_pts(tmp_path: Path) -> None:
    source = probe(write_clip(tmp_path / "clip.mp4", seconds=0.4))
    info = dataclasses.replace(source, audio=(), rotation=0)
    # Part one ends with frames close together; part two starts with a long pause, so
    # its encoder's first dts (pts minus the B-frame delay, measured on its own
    # frame spacing) falls below part one's last dts.
    first = [i * 3600 for i in range(12)] + [43200 + i * 360 for i in range(1, 4)]
    second = [46800 + i * 45000 for i in range(12)]
    parts = []
    for number, stamps in enumerate((first, second)):
        part = tmp_path / f"part{number}.mp4"
        with VideoWriter(part, info, EncoderSettings()) as writer:
            for index, stamp in enumerate(stamps):
                writer.write(draw(index, 30), stamp)
        parts.append(part)
    last_dts = packets(parts[0])[-1][1]
    assert packets(parts[1])[0][1] <= last_dts, "the scene no longer makes a clash; make the pause longer"
    output = tmp_path / "joined.mp4"
    assert join_segments(parts, output, source) == len(first) + len(second)
    joined = packets(output)
    assert all(a < b for _, a, _, b in ((*x, *y) for x, y in itertools.pairwise(joined)))
    assert all(dts <= pts for pts, dts in joined)
    with VideoReader(output) as reader:
        assert [frame.pts for frame in reader] == first + second


def test_join_failure_publishes_nothing(tmp_path: Path) -> None:
    source = probe(write_clip(tmp_path / "clip.mp4", seconds=0.2))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(OutputError):
        join_segments([broken], tmp_path / "joined.mp4", source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "clip.mp4"]
