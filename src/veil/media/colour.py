"""Which YUV<->RGB matrix and range a stream's pixels use."""

from __future__ import annotations

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
