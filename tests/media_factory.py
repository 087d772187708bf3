"""Real media for tests, written with PyAV: small clips with known frames and timestamps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ENCODERS = {
    "h264": "libx264",
    "hevc": "libx265",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "mpeg4": "mpeg4",
}
FORMATS = {".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov", ".mp4": "mp4"}
# Irregular frame durations (ms) cycled by vfr clips: a stuttering phone camera.
VFR_STEPS_MS = (33, 50, 17, 100, 41, 33, 67)
LOCATION = "+48.8584+002.2945/"


def pattern(width: int, height: int) -> Callable[[int], np.ndarray]:
    """A smooth, moving, textured RGB pattern: gradients, a sine texture and a moving box."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)

    def draw(index: int) -> np.ndarray:
        shift = index * 4.0
        red = 128 + 100 * np.sin((x + shift) / 23.0)
        green = 255.0 * y / max(height - 1, 1)
        blue = 128 + 100 * np.cos((x * 0.5 + y - shift) / 31.0)
        image = np.stack([red, green, blue], axis=-1)
        side = max(8, min(width, height) // 5)
        left = int((index * 7) % max(width - side, 1))
        top = int((index * 3) % max(height - side, 1))
        image[top : top + side, left : left + side] = (240, 40, 40)
        return np.clip(image, 0, 255).astype(np.uint8)

    return draw


def frame_pts(frames: int, rate: Fraction, time_base: Fraction, vfr: bool) -> list[int]:
    """Presentation timestamps in ``time_base``: constant rate, or the irregular VFR steps."""
    if not vfr:
        return [round(i / rate / time_base) for i in range(frames)]
    pts, t_ms = [], 0
    for i in range(frames):
        pts.append(round(Fraction(t_ms, 1000) / time_base))
        t_ms += VFR_STEPS_MS[i % len(VFR_STEPS_MS)]
    return pts


def make_clip(
    path: str | Path,
    *,
    size: tuple[int, int] = (160, 96),
    frames: int = 12,
    rate: Fraction = Fraction(30000, 1001),
    codec: str = "h264",
    pix_fmt: str = "yuv420p",
    audio: Sequence[tuple[str, int, int]] | None = None,
    rotation: int = 0,
    vfr: bool = False,
    location_metadata: bool = False,
    content: Callable[[int], np.ndarray] | None = None,
    colorspace: int | None = None,
    color_range: int | None = None,
    crf: int | None = None,
) -> Path:
    """Write a clip and return its path. ``size`` is (width, height), stored orientation.

    ``audio`` is a list of (codec, sample_rate, channels), one stream each, as long
    as the video. ``rotation`` is the display rotation (counter-clockwise degrees,
    as ``veil.media.VideoInfo.rotation``). ``location_metadata`` adds QuickTime
    location, make and model tags (MP4/MOV).
    """
    path = Path(path)
    width, height = size
    draw = content or pattern(width, height)
    options = {}
    if location_metadata:
        options["movflags"] = "use_metadata_tags"
    out = av.open(str(path), mode="w", format=FORMATS[path.suffix], options=options)
    if location_metadata:
        out.metadata.update(
            {
                "location": LOCATION,
                "com.apple.quicktime.location.ISO6709": LOCATION,
                "com.apple.quicktime.make": "Apple",
                "com.apple.quicktime.model": "iPhone 15 Pro",
            }
        )
    # MPEG-4 part 2 needs a time base denominator below 2**16.
    time_base = Fraction(1, 90_000) if codec != "mpeg4" else 1 / rate
    encoder_options = {}
    if crf is not None:
        encoder_options["crf"] = str(crf)
    if codec == "hevc":
        encoder_options["x265-params"] = "log-level=error"
    if codec == "av1":
        encoder_options["preset"] = "12"
    if codec == "vp9":
        encoder_options.update({"deadline": "realtime", "cpu-used": "8"})
    video = out.add_stream(ENCODERS[codec], rate=rate, options=encoder_options)
    video.width, video.height, video.pix_fmt = width, height, pix_fmt
    video.codec_context.time_base = time_base
    if colorspace is not None:
        video.codec_context.colorspace = colorspace
    if color_range is not None:
        video.codec_context.color_range = color_range
    if rotation:
        video.set_display_rotation(rotation)

    audio_streams = []
    for audio_codec, sample_rate, channels in audio or ():
        stream = out.add_stream(audio_codec, rate=sample_rate)
        stream.codec_context.layout = "mono" if channels == 1 else "stereo"
        audio_streams.append(stream)

    pts = frame_pts(frames, rate, time_base, vfr)
    duration = pts[-1] * time_base + 1 / rate
    # Audio buffers: one per stream, muxed in step with the video.
    audio_frames = [_tone(stream, duration) for stream in audio_streams]
    for index, stamp in enumerate(pts):
        frame = av.VideoFrame.from_ndarray(draw(index), format="rgb24")
        frame = frame.reformat(
            format=pix_fmt,
            dst_colorspace=colorspace if colorspace is not None else 1,
            dst_color_range=color_range if color_range is not None else 1,
        )
        frame.pts, frame.time_base = stamp, time_base
        out.mux(video.encode(frame))
        now = stamp * time_base
        for stream, queue in zip(audio_streams, audio_frames, strict=False):
            while queue and queue[0].pts * queue[0].time_base <= now:
                out.mux(stream.encode(queue.pop(0)))
    out.mux(video.encode(None))
    for stream, queue in zip(audio_streams, audio_frames, strict=False):
        for frame in queue:
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    out.close()
    return path


def _tone(stream, duration: Fraction) -> list[av.AudioFrame]:
    """A 440 Hz tone of ``duration`` seconds, cut into 1024-sample frames."""
    rate = stream.codec_context.sample_rate
    channels = stream.codec_context.channels
    total = int(duration * rate)
    t = np.arange(total) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    frames = []
    for start in range(0, total, 1024):
        chunk = wave[start : start + 1024]
        packed = np.repeat(chunk, channels)[None, :]
        frame = av.AudioFrame.from_ndarray(packed, format="s16", layout="mono" if channels == 1 else "stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


def make_text_file(path: str | Path) -> Path:
    """Not a video, whatever its name says."""
    path = Path(path)
    path.write_text("this is not a video, just some text\n" * 20)
    return path


def truncate(source: str | Path, path: str | Path, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of ``source`` (a faststart-less MP4 loses its moov)."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def top_level_boxes(path: str | Path) -> list[str]:
    """The names of an MP4/MOV file's top-level boxes, in file order."""
    names = []
    with open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return names
            size = int.from_bytes(header[:4], "big")
            names.append(header[4:8].decode("latin-1"))
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            elif size == 0:
                return names
            else:
                handle.seek(size - 8, 1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
