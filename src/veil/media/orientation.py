"""Display rotation: from the stored picture to what the viewer sees, and back.

``rotation`` is FFmpeg's display rotation (``VideoInfo.rotation``): the
counter-clockwise angle, a multiple of 90 degrees, by which the stored picture
is turned for display. A phone's portrait recording stored landscape has -90
(that is, 270): turned 90 degrees clockwise for display. Detectors see the picture upright; boxes come back to stored
coordinates for redaction, because the output keeps the stored picture and the
input's rotation.
"""

from __future__ import annotations

import numpy as np

_TURNS = {0: 0, 90: 1, 180: 2, 270: 3}


def _turns(rotation: int) -> int:
    """Clockwise quarter turns from stored to display."""
    try:
        return _TURNS[-rotation % 360]
    except KeyError:
        raise ValueError(f"rotation must be a multiple of 90 degrees, not {rotation}") from None


def to_display(image: np.ndarray, rotation: int) -> np.ndarray:
    """The stored ``image`` turned as a viewer sees it."""
    turns = _turns(rotation)
    if turns == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-turns))


def boxes_to_stored(boxes: np.ndarray, rotation: int, stored_size: tuple[int, int]) -> np.ndarray:
    """Map ``x1, y1, x2, y2`` boxes from display to stored pixel coordinates."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    width, height = stored_size
    x1, y1, x2, y2 = boxes.T
    turns = _turns(rotation)
    if turns == 0:
        return boxes
    if turns == 1:  # display (u, v) came from stored (x=v, y=H-u)
        mapped = (y1, height - x2, y2, height - x1)
    elif turns == 2:
        mapped = (width - x2, height - y2, width - x1, height - y1)
    else:  # display (u, v) came from stored (x=W-v, y=u)
        mapped = (width - y2, x1, width - y1, x2)
    return np.stack(mapped, axis=1).astype(np.float32)


def boxes_to_display(boxes: np.ndarray, rotation: int, stored_size: tuple[int, int]) -> np.ndarray:
    """Map ``x1, y1, x2, y2`` boxes from stored to display pixel coordinates."""
    width, height = stored_size
    turns = _turns(rotation)
    display_size = (height, width) if turns % 2 else (width, height)
    return boxes_to_stored(boxes, -rotation % 360, display_size)


def display_size(stored_size: tuple[int, int], rotation: int) -> tuple[int, int]:
    width, height = stored_size
    return (height, width) if _turns(rotation) % 2 else (width, height)
