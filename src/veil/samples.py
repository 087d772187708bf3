"""A sample clip veil makes itself: a real face and a licence plate moving over a scene.

The face is the public-domain NASA portrait of astronaut Eileen Collins that
scikit-image ships (``skimage/data/astronaut.png``); the plate is rendered. The
clip has an audio track (a tone), so a run on it shows audio surviving too.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import av
import cv2
import numpy as np

from veil.errors import InputError
from veil.files import atomic_path

ASTRONAUT_FACE = (160, 20, 300, 200)
"""x1, y1, x2, y2 of the head in the 512x512 astronaut photo."""


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """The 512x512 RGB astronaut photo shipped in scikit-image."""
    try:
        path = distribution("scikit-image").locate_file("skimage/data/astronaut.png")
    except PackageNotFoundError:
        raise InputError("the sample face needs scikit-image installed (it ships the photo)") from None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read the sample photo at {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def render_plate(text: str = "VEIL 042", height: int = 40) -> np.ndarray:
    """An EU-style plate: white, black border and characters, blue band on the left."""
    width = int(height * 4.6)
    plate = np.full((height, width, 3), 245, np.uint8)
    cv2.rectangle(plate, (0, 0), (width - 1, height - 1), (20, 20, 20), max(1, height // 16))
    band = height // 3
    plate[2:-2, 2 : band + 2] = (30, 60, 170)
    scale = height / 34
    thickness = max(1, round(height / 12))
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    origin = (band + 4 + (width - band - 4 - text_w) // 2, (height + text_h) // 2)
    cv2.putText(plate, text, origin, cv2.FONT_HERSHEY_DUPLEX, scale, (15, 15, 15), thickness, cv2.LINE_AA)
    return plate


def _background(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([90 + 60 * y / height, 120 + 50 * y / height, 170 - 40 * y / height], axis=-1)
    texture = 12 * np.sin(x / 7.0) * np.cos(y / 11.0)
    return np.clip(sky + texture[..., None], 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, patch: np.ndarray, left: int, top: int) -> None:
    h, w = patch.shape[:2]
    x1, y1 = max(left, 0), max(top, 0)
    x2, y2 = min(left + w, frame.shape[1]), min(top + h, frame.shape[0])
    if x2 > x1 and y2 > y1:
        frame[y1:y2, x1:x2] = patch[y1 - top : y2 - top, x1 - left : x2 - left]


def sample_frame(index: int, size: tuple[int, int] = (640, 360), frames: int = 100) -> np.ndarray:
    """Frame ``index`` of the sample scene: the face drifts and grows, a car with a plate crosses."""
    width, height = size
    frame = _background(width, height)
    progress = index / max(frames - 1, 1)
    x1, y1, x2, y2 = ASTRONAUT_FACE
    face_height = int(height * (0.35 + 0.2 * progress))
    head = cv2.resize(astronaut()[y1:y2, x1:x2], (face_height * (x2 - x1) // (y2 - y1), face_height), interpolation=cv2.INTER_AREA)
    _paste(frame, head, int(width * (0.08 + 0.1 * progress)), int(height * 0.1 + 8 * math.sin(index / 9)))
    car_width, car_height = width // 3, height // 4
    car = np.full((car_height, car_width, 3), (70, 70, 80), np.uint8)
    plate = render_plate(height=max(16, car_height // 3))
    _paste(car, plate, (car_width - plate.shape[1]) // 2, car_height - plate.shape[0] - 6)
    _paste(frame, car, int(width * (0.95 - 0.45 * progress)), height - car_height - 10)
    return frame


def render_sample_clip(path: str | Path, seconds: float = 4.0, size: tuple[int, int] = (640, 360)) -> Path:
    """Write the sample scene as H.264 + AAC MP4 at 25 fps."""
    path = Path(path)
    rate = 25
    frames = max(1, round(seconds * rate))
    sample_rate = 48000
    with atomic_path(path) as temporary, av.open(str(temporary), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "veryfast"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="mono")
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(sample_frame(index, size, frames), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(frames * sample_rate // rate) / sample_rate)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = sample_rate, start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    return path
