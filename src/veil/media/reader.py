"""Decoding: every frame of the first video stream, as planar YUV, with its own pts."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Self

import av
import cv2
import numpy as np

from veil.errors import InputError, reason
from veil.media.colour import RANGE_JPEG, PixelLayout, layout_of
from veil.media.probe import VideoInfo, check_readable, probe

_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
"""Limited-range luma (16-235) stretched to full range (0-255)."""


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index in presentation order, its pts and its pixels.

    ``yuv`` holds the picture as veil codes it (``layout``): planar 8-bit YUV, ``(height * 3 // 2,
    width)`` for 4:2:0 (Y, then U and V, each a quarter of Y), ``(3, height, width)`` for 4:4:4,
    in stored orientation (not rotated). ``pts`` is in ``time_base`` units, exactly as the input
    carries it. RGB (``to_rgb``) is made on request: most frames are never looked at, and a frame
    held as YUV takes half the memory.
    """

    index: int
    pts: int
    time_base: Fraction
    yuv: np.ndarray
    layout: PixelLayout

    @property
    def timestamp_ms(self) -> float:
        return float(self.pts * self.time_base * 1000)

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views of the Y, U and V planes of ``yuv`` (writing to them changes the frame)."""
        if self.yuv.ndim == 3:
            return self.yuv[0], self.yuv[1], self.yuv[2]
        height, width = self.yuv.shape[0] * 2 // 3, self.yuv.shape[1]
        flat = self.yuv.reshape(-1)
        chroma = (height // 2) * (width // 2)
        luma = height * width
        u = flat[luma : luma + chroma].reshape(height // 2, width // 2)
        v = flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2)
        return self.yuv[:height], u, v

    def to_rgb(self) -> np.ndarray:
        """A new (height, width, 3) uint8 full-range RGB copy of the picture."""
        frame = av.VideoFrame.from_ndarray(self.yuv, format=self.layout.pix_fmt)
        return frame.to_ndarray(
            format="rgb24",
            src_colorspace=self.layout.matrix,
            src_color_range=self.layout.range,
            dst_color_range=RANGE_JPEG,
        )

    def grey(self) -> np.ndarray:
        """The picture in grey, full range (0-255): the Y plane itself, or a stretched copy of a limited-range one."""
        luma = self.planes[0]
        return luma if self.layout.full_range else cv2.LUT(luma, _LIMITED_TO_FULL)


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
            raise InputError(
                "input {path} is not a readable video: {reason}", path=self._path, reason=reason(error)
            ) from None
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self.layout = layout_of(self.info)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[VideoFrame]:
        yield from self._frames(self._decode(), first_index=0)

    def frames_between(self, seek_pts: int, pts: Sequence[int], first_index: int) -> Iterator[VideoFrame]:
        """The frames whose pts are ``pts`` (consecutive, in presentation order), indexed from ``first_index``.

        Decoding starts at the keyframe at ``seek_pts`` (at or before ``pts[0]``);
        frames before ``pts[0]`` are decoded and dropped. Every yielded frame's pts
        is checked against ``pts``: a frame missing or out of place raises InputError.
        """
        if not pts:
            return
        try:
            self._container.seek(seek_pts, backward=True, any_frame=False, stream=self._stream)
        except av.error.FFmpegError as error:
            raise InputError(
                f"input {{path}}: cannot seek to {seek_pts}: {{reason}}", path=self._path, reason=reason(error)
            ) from None
        wanted = iter(pts)
        expected: int | None = next(wanted)
        started = False
        for frame in self._frames(self._decode(), first_index=first_index, skip_before=pts[0]):
            if frame.pts != expected:
                raise InputError(
                    f"input {{path}}: frame {frame.index} has pts {frame.pts}, expected {expected}"
                    " (the packets' timestamps do not match the decoded frames)",
                    path=self._path,
                )
            started = True
            yield frame
            expected = next(wanted, None)
            if expected is None:
                return
        raise InputError(
            f"input {{path}}: decoding from pts {seek_pts} ended before pts {expected}"
            + ("" if started else " (no frame at the segment's start)"),
            path=self._path,
        )

    def _frames(
        self, decoded: Iterator[av.VideoFrame], first_index: int, skip_before: int | None = None
    ) -> Iterator[VideoFrame]:
        time_base, layout = self.info.time_base, self.layout
        index, last = first_index, None
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                raise InputError(
                    f"input {{path}}: decoding failed after frame {index - 1}: {{reason}}",
                    path=self._path,
                    reason=reason(error),
                ) from None
            pts = frame.pts if frame.pts is not None else frame.dts
            if skip_before is not None and (pts is None or pts < skip_before):
                continue  # before the wanted range (decoded from the keyframe to get there)
            if frame.is_corrupt:
                raise InputError(f"input {{path}}: frame {index} is corrupt", path=self._path)
            if pts is None:
                raise InputError(f"input {{path}}: frame {index} has no timestamp", path=self._path)
            if last is not None and pts <= last:
                raise InputError(
                    f"input {{path}}: broken timestamps: frame {index} is at pts {pts},"
                    f" not after frame {index - 1}'s {last};"
                    " re-time the file (e.g. ffmpeg -i IN -vf setpts=N/FRAME_RATE/TB OUT) and try again",
                    path=self._path,
                )
            last = pts
            planar = frame.reformat(
                format=layout.pix_fmt,
                src_colorspace=layout.matrix,
                dst_colorspace=layout.matrix,
                src_color_range=layout.range,
                dst_color_range=layout.range,
            )
            yield VideoFrame(index=index, pts=int(pts), time_base=time_base, yuv=planar.to_ndarray(), layout=layout)
            index += 1

    def _decode(self) -> Iterator[av.VideoFrame]:
        for packet in self._container.demux(self._stream):
            yield from packet.decode()
