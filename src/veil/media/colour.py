"""Which YUV<->RGB matrix and range a stream's pixels use."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from veil.media.probe import VideoInfo

# FFmpeg's AVColorSpace / AVColorRange numbers.
SPC_BT709 = 1
SPC_UNSPECIFIED = 2
SPC_BT470BG = 5
SPC_SMPTE170M = 6
RANGE_UNSPECIFIED = 0
RANGE_MPEG = 1  # limited, 16-235
RANGE_JPEG = 2  # full, 0-255

# Matrices swscale can convert with; anything else falls back to the size guess.
_SWSCALE_MATRICES = {1, 4, 5, 6, 7, 9, 10}


def matrix_for(colorspace: int, width: int, height: int) -> int:
    """The YUV<->RGB matrix to use: the stream's own, else BT.709 for HD, BT.601 for SD."""
    if colorspace in _SWSCALE_MATRICES:
        return colorspace
    return SPC_BT709 if width >= 1280 or height >= 720 else SPC_SMPTE170M


def range_for(color_range: int, pix_fmt: str) -> int:
    """The stream's range, else full for the JPEG (``yuvj*``) formats, else limited."""
    if color_range in (RANGE_MPEG, RANGE_JPEG):
        return color_range
    return RANGE_JPEG if pix_fmt.startswith("yuvj") else RANGE_MPEG


@dataclass(frozen=True)
class PixelLayout:
    """How veil holds a video's pictures between decoding and encoding: 8-bit planar YUV, as the
    output is coded, so that only the frames a detector looks at are ever converted to RGB.

    ``pix_fmt`` is ``yuv420p``, or ``yuv444p`` for an odd width or height (4:2:0 H.264/HEVC cannot
    code those); ``matrix`` and ``range`` are FFmpeg's colour space and range numbers.
    """

    pix_fmt: str
    matrix: int
    range: int

    @property
    def full_range(self) -> bool:
        return self.range == RANGE_JPEG

    def planar_colour(self, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
        """The (Y, U, V) values of the full-range RGB colour ``rgb`` in this layout."""
        patch = av.VideoFrame.from_ndarray(np.full((2, 2, 3), rgb, np.uint8), format="rgb24")
        yuv = patch.reformat(
            format="yuv444p",
            src_colorspace=self.matrix,
            dst_colorspace=self.matrix,
            src_color_range=RANGE_JPEG,
            dst_color_range=self.range,
        ).to_ndarray()
        return int(yuv[0, 0, 0]), int(yuv[1, 0, 0]), int(yuv[2, 0, 0])


def layout_of(info: VideoInfo) -> PixelLayout:
    """The layout veil decodes the video ``info`` describes into, and encodes its output from."""
    planar = "yuv444p" if info.width % 2 or info.height % 2 else "yuv420p"
    return PixelLayout(
        planar, matrix_for(info.colorspace, info.width, info.height), range_for(info.color_range, info.pix_fmt)
    )
