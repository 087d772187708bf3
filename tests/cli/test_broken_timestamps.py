"""Inputs whose timestamps are broken end in a clear one-line error with exit 2, never "internal error" (70)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.cli.test_cli import assert_one_line_error, veil


def write_with_frozen_clock(path: Path, frames: int = 12) -> Path:
    """A valid H.264 stream whose packets all carry the timestamp 0, as some broken recorders write it."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        images = [np.full((96, 160, 3), index * 20, np.uint8) for index in range(frames)]
        for image in [*images, None]:
            packets = stream.encode(None if image is None else av.VideoFrame.from_ndarray(image, format="rgb24"))
            for packet in packets:
                packet.pts = packet.dts = 0
                container.mux(packet)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("split", [False, True], ids=["one-pass", "segments"])
def test_frames_that_all_carry_one_timestamp(tmp_path: Path, suffix: str, split: bool) -> None:
    source = write_with_frozen_clock(tmp_path / f"frozen{suffix}")
    extra = ["--jobs", "2", "--segment-seconds", "0.1"] if split else []
    result = veil("anonymize", source, "-o", tmp_path / "out.mp4", "--classes", "face", *extra)
    assert_one_line_error(result, 2, "broken timestamps")
    assert str(source) in result.stderr
    assert not (tmp_path / "out.mp4").exists()
