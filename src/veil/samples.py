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


def skimage_photo(name: str) -> np.ndarray:
    """An RGB photo shipped in scikit-image's data folder (e.g. ``astronaut.png``)."""
    try:
        path = distribution("scikit-image").locate_file(f"skimage/data/{name}")
    except PackageNotFoundError:
        raise InputError("the sample clip needs scikit-image installed (it ships the photos)") from None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read the sample photo at {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """The 512x512 RGB astronaut photo shipped in scikit-image."""
    return skimage_photo("astronaut.png")


@lru_cache(maxsize=4)
def _background(width: int, height: int) -> np.ndarray:
    """A natural photo as the scene: the plate model wants real context around a plate."""
    return cv2.resize(skimage_photo("coffee.png"), (width, height), interpolation=cv2.INTER_AREA)


def render_plate(
    text: str = "VE 1042 L", width: int = 190, color: tuple[int, int, int] = (240, 240, 235)
) -> np.ndarray:
    """A 520 x 110 mm plate: coloured field, black rim, tall bold black characters, RGB."""
    height = round(width * 110 / 520)
    plate = np.full((height, width, 3), color, np.uint8)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (15, 15, 15), max(2, height // 20))
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 3
    scale = cv2.getFontScaleFromHeight(font, int(height * 0.6), thickness)
    (text_width, text_height), _ = cv2.getTextSize(text, font, scale, thickness)
    glyphs = np.full((text_height + 20, text_width + 20, 3), color, np.uint8)
    cv2.putText(glyphs, text, (10, text_height + 10), font, scale, (10, 10, 10), thickness, cv2.LINE_AA)
    # Plate characters are taller than wide: squeeze the line into the plate.
    squeezed = cv2.resize(glyphs, (int(width * 0.86), int(height * 0.8)), interpolation=cv2.INTER_AREA)
    top, left = (height - squeezed.shape[0]) // 2, (width - squeezed.shape[1]) // 2
    plate[top : top + squeezed.shape[0], left : left + squeezed.shape[1]] = squeezed
    return plate


def _paste(frame: np.ndarray, patch: np.ndarray, left: int, top: int) -> None:
    h, w = patch.shape[:2]
    x1, y1 = max(left, 0), max(top, 0)
    x2, y2 = min(left + w, frame.shape[1]), min(top + h, frame.shape[0])
    if x2 > x1 and y2 > y1:
        frame[y1:y2, x1:x2] = patch[y1 - top : y2 - top, x1 - left : x2 - left]


def sample_frame(index: int, size: tuple[int, int] = (640, 360), frames: int = 100) -> np.ndarray:
    """Frame ``index`` of the sample scene: the face drifts and grows, a plate slides across.

    A little blur and sensor noise make it look like camera footage, which the
    plate model needs to take a rendered plate for a real one.
    """
    width, height = size
    frame = _background(width, height).copy()
    progress = index / max(frames - 1, 1)
    x1, y1, x2, y2 = ASTRONAUT_FACE
    face_height = int(height * (0.35 + 0.2 * progress))
    head = cv2.resize(
        astronaut()[y1:y2, x1:x2], (face_height * (x2 - x1) // (y2 - y1), face_height), interpolation=cv2.INTER_AREA
    )
    _paste(frame, head, int(width * (0.05 + 0.1 * progress)), int(height * 0.08 + 8 * math.sin(index / 9)))
    plate = render_plate(width=max(24, int(width * 0.15)))
    _paste(frame, plate, int(width * (0.8 - 0.3 * progress)), int(height * 0.72))
    frame = cv2.GaussianBlur(frame, (0, 0), 0.8)
    noise = np.random.default_rng(index).normal(0, 4, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def render_sample_clip(
    path: str | Path, seconds: float = 4.0, size: tuple[int, int] = (640, 360), gop: int | None = None
) -> Path:
    """Write the sample scene as H.264 + AAC MP4 at 25 fps.

    A keyframe comes every ``gop`` frames (default: x264's choice).
    """
    path = Path(path)
    rate = 25
    frames = max(1, round(seconds * rate))
    sample_rate = 48000
    options = {"crf": "18", "preset": "veryfast"}
    if gop is not None:
        options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    with atomic_path(path) as temporary, av.open(str(temporary), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=rate, options=options)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="mono")
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(sample_frame(index, size, frames), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(frames * sample_rate // rate) / sample_rate)).astype(
            np.float32
        )
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = sample_rate, start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    return path


CALIBRATION_PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
)
"""Photos shipped in scikit-image, of people, animals, objects and night sky."""


def calibration_photos() -> list[np.ndarray]:
    """RGB pictures that set int8 activation ranges (veil.detect.optimize): packaged photos
    and frames of the sample scene (a face and a plate) at several sizes."""
    photos = [skimage_photo(name) for name in CALIBRATION_PHOTOS]
    scenes = [sample_frame(index, size) for index, size in ((0, (1280, 720)), (60, (1920, 1080)), (99, (640, 360)))]
    return photos + scenes
