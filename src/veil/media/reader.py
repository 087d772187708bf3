"""Decoding: every frame of the first video stream, as RGB, with its own pts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType

import av
import numpy as np

from veil.errors import InputError
from veil.media.colour import matrix_for, range_for
from veil.media.probe import VideoInfo, _reason, check_readable, probe


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index in presentation order, its pts and its pixels.

    ``image`` is (height, width, 3) uint8 RGB in stored orientation (not rotated);
    ``pts`` is in ``time_base`` units, exactly as the input carries it.
    """

    index: int
    pts: int
    time_base: Fraction
    image: np.ndarray

    @property
    def timestamp_ms(self) -> float:
        return float(self.pts * self.time_base * 1000)


class VideoReader:
    """Iterate the frames of a video file in presentation order.

    Every frame the decoder produces is yielded exactly once with its own pts
    (the packet dts where a frame has no pts; never a made-up constant rate).
    A frame the decoder reports as corrupt, or a decode error, raises InputError:
    nothing is skipped silently.
    """

    def __init__(self, path: str | os.PathLike[str], info: VideoInfo | None = None) -> None:
        self.info = info if info is not None else probe(path)
        self._path = check_readable(path)
        try:
            self._container = av.open(str(self._path), mode="r")
        except av.error.FFmpegError as error:
            raise InputError(f"input {self._path} is not a readable video: {_reason(error)}") from None
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._matrix = matrix_for(self.info.colorspace, self.info.width, self.info.height)
        self._range = range_for(self.info.color_range, self.info.pix_fmt)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[VideoFrame]:
        time_base = self.info.time_base
        index = 0
        frames = self._decode()
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                raise InputError(
                    f"input {self._path}: decoding failed after frame {index - 1}: {_reason(error)}"
                ) from None
            if frame.is_corrupt:
                raise InputError(f"input {self._path}: frame {index} is corrupt")
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is None:
                raise InputError(f"input {self._path}: frame {index} has no timestamp")
            image = frame.to_ndarray(
                format="rgb24",
                src_colorspace=self._matrix,
                src_color_range=self._range,
                dst_color_range=2,
            )
            yield VideoFrame(index=index, pts=int(pts), time_base=time_base, image=image)
            index += 1

    def _decode(self) -> Iterator[av.VideoFrame]:
        for packet in self._container.demux(self._stream):
            yield from packet.decode()
