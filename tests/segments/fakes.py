"""A scene whose objects cross segment seams, and detectors that find them exactly (fast, deterministic).

The scene: the sample photo (dimmed, so nothing in it passes the detectors'
colour tests), filmed by a handheld camera that jerks for two frames just before
each second (so fusion carries boxes along the camera's path across the seams),
with a striped red square ("face") moving right and a striped green one
("plate") moving left and down. (A camera that also sways all the time makes the
encoder's noise differ more between a segmented run and a single pass than the
pixel check in ``compare`` allows, though the covers stay the same.) A detector finds its square by colour
and returns the square's pixel extent. Frames listed in ``MISSES`` carry a white
marker in the top-left corner: the detectors see nothing there (a detector
miss), so fusion has gaps to fill, some of them right at the seams. Detection is
a pure function of the decoded image, so a single pass and a segmented run,
which decode the same frames bit for bit, see the same detections. The plate
detector's glance never finds its square (a plate only close looks find), so a
segment, which looks closely at its first frame, sees the plate where the single
pass only glanced: the margins must absorb that too.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from veil.records import Detections
from veil.samples import sample_frame

RATE = 25
GOP = 25  # a keyframe every second: seams can fall every 25 frames
SIZE = (320, 180)
TIME_BASE = Fraction(1, 90_000)
# Detector misses: short gaps at and around the seams of 1 s, 2 s and 2.5 s (frame 25k),
# a gap longer than max_gap (a new track), and misses right after the start.
MISSES = frozenset(
    {
        2,
        3,
        24,
        25,
        26,
        49,
        50,
        51,
        52,
        53,
        74,
        75,
        76,
        77,
        78,
        79,
        80,
        81,
        82,
        83,
        84,
        85,
        86,
        87,
        99,
        100,
        101,
        124,
        126,
    }
)
MARKER = 10
ROOM = 16  # the background is this much larger on every side than the picture: room for the camera to move


def _stripes(size: int, colour: tuple[int, int, int]) -> np.ndarray:
    square = np.zeros((size, size, 3), np.uint8)
    square[:] = colour
    square[1::4] = (30, 30, 30)  # texture, so covering it changes its pixels
    square[2::4] = (30, 30, 30)
    return square


@functools.cache
def _background(index: int) -> np.ndarray:
    width, height = SIZE
    larger = (width + 2 * ROOM, height + 2 * ROOM)
    return (cv2.resize(sample_frame(index, (640, 360), 10), larger) // 2).astype(np.uint8)


def camera(index: int) -> tuple[int, int]:
    """Where the handheld camera points, in pixels from the middle of the background: 10 px right
    and 6 px up on frames 22 and 23 of every second (the shifts land on frames 22 and 24)."""
    return (10, -6) if index % GOP in (22, 23) else (0, 0)


def draw(index: int, frames: int) -> np.ndarray:
    width, height = SIZE
    dx, dy = camera(index)
    image = _background(index % 10)[ROOM + dy : ROOM + dy + height, ROOM + dx : ROOM + dx + width].copy()
    face = _stripes(28, (250, 20, 20))
    x = 10 + (index * 3) % (width - 40)
    y = 40 + int(20 * np.sin(index / 11))
    image[y : y + 28, x : x + 28] = face
    plate = _stripes(20, (20, 250, 20))
    px = width - 30 - (index * 2) % (width - 40)
    py = 100 + (index // 3) % 50
    image[py : py + 20, px : px + 20] = plate
    if index in MISSES:
        image[:MARKER, :MARKER] = 255
    return image


def write_clip(path: Path, seconds: float = 6.0, vfr: bool = False, rotation: int = 0, location: bool = False) -> Path:
    """H.264 with B-frames and a keyframe every GOP frames, plus AAC audio as long as the video."""
    frames = round(seconds * RATE)
    with av.open(str(path), "w", options={"movflags": "use_metadata_tags"} if location else {}) as out:
        if location:
            out.metadata.update({"location": "+48.8584+002.2945/", "com.apple.quicktime.make": "Apple"})
        video = out.add_stream(
            "libx264",
            rate=RATE,
            options={
                "preset": "veryfast",
                "crf": "20",
                "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=3",
            },
        )
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        video.codec_context.time_base = TIME_BASE
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream("aac", rate=48000, layout="mono")
        stamps, now = [], 0
        steps = (3600, 3600, 1800, 5400)  # 40, 40, 20, 60 ms
        for index in range(frames):
            stamps.append(now)
            now += steps[index % len(steps)] if vfr else 3600
        for index, stamp in enumerate(stamps):
            frame = av.VideoFrame.from_ndarray(draw(index, frames), format="rgb24")
            frame.pts, frame.time_base = stamp, TIME_BASE
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = int(float(now * TIME_BASE) * 48000)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
    return path


class ColourSquares:
    """Finds the square of one colour; nothing on frames with the miss marker."""

    def __init__(self, class_name: str, channel: int) -> None:
        self.class_name = class_name
        self.channel = channel

    def detect(self, image: np.ndarray) -> Detections:
        if image[: MARKER - 2, : MARKER - 2].min() > 200:
            return Detections.empty()
        others = [c for c in range(3) if c != self.channel]
        mask = (image[..., self.channel] > 180) & (image[..., others[0]] < 90) & (image[..., others[1]] < 90)
        rows, columns = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if len(rows) < 4 or len(columns) < 4:
            return Detections.empty()
        box = np.array([[columns[0], rows[0], columns[-1] + 1, rows[-1] + 1]], np.float32)
        return Detections.of_class(box, np.array([0.9], np.float32), self.class_name)


class FailsOnMarker(ColourSquares):
    """Raises on a frame with the miss marker late in the clip (so one segment fails and the others succeed)."""

    def __init__(self) -> None:
        super().__init__("face", 0)

    def detect(self, image: np.ndarray) -> Detections:
        if image[: MARKER - 2, : MARKER - 2].min() > 200 and _late(image):
            raise RuntimeError("detector crashed")
        return super().detect(image)


def _late(image: np.ndarray) -> bool:
    """True on frames whose red square is far right (late in the clip, so only one segment fails)."""
    mask = (image[..., 0] > 180) & (image[..., 1] < 90) & (image[..., 2] < 90)
    columns = np.nonzero(mask.any(axis=0))[0]
    return len(columns) > 0 and columns[0] > 250


class UnseenByGlances(ColourSquares):
    """Finds its square when it looks closely and never when it glances: a plate only close looks find."""

    def glance(self, image: np.ndarray) -> Detections:
        return Detections.empty()


def detectors() -> list[ColourSquares]:
    """A face found at every look and a plate found only at close looks (veil.pipeline.schedule)."""
    return [ColourSquares("face", 0), UnseenByGlances("plate", 1)]


class DiesOnMarker(FailsOnMarker):
    """Ends its worker process abruptly where :class:`FailsOnMarker` raises (a killed worker)."""

    def detect(self, image: np.ndarray) -> Detections:
        try:
            return super().detect(image)
        except RuntimeError:
            import os

            os._exit(3)
