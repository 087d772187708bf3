"""One frame of a video, found by its timestamp: thumbnails for the review pages, without decoding from the start."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from veil.errors import InputError, reason
from veil.media.orientation import to_display
from veil.media.reader import VideoReader


def frame_at(path: str | os.PathLike[str], timestamp_ms: float) -> np.ndarray:
    """The displayed (rotated) RGB image of the first frame at or after ``timestamp_ms``.

    Decoding starts at the keyframe before it. Raises InputError if the video ends first.
    """
    with VideoReader(path) as reader:
        time_base = reader.info.time_base
        # Timestamps in detections are rounded to the millisecond: look from half a millisecond before.
        target = int((Fraction(timestamp_ms) - Fraction(1, 2)) / 1000 / time_base)
        try:
            reader._container.seek(max(target, 0), backward=True, any_frame=False, stream=reader._stream)
        except av.error.FFmpegError as error:
            raise InputError(
                f"input {{path}}: cannot seek to {timestamp_ms} ms: {{reason}}", path=path, reason=reason(error)
            ) from None
        for frame in reader._frames(reader._decode(), first_index=0, skip_before=target):
            return to_display(frame.to_rgb(), reader.info.rotation)
    raise InputError(f"input {{path}} has no frame at {timestamp_ms} ms", path=path)
