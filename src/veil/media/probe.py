"""Probing: what a video file holds, read from its container and first frame."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
from av.video.stream import VideoStream

from veil.errors import InputError, reason


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of the input, as the container describes it."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file and what surrounds it.

    ``width`` and ``height`` are the decoded frame size (stored orientation);
    ``rotation`` is the display rotation FFmpeg reads from the stream's display
    matrix, counter-clockwise in degrees and normalised to 0, 90, 180 or 270
    (the value of ``av.VideoFrame.rotation`` modulo 360). A player turns the
    stored frame by that much to show it; ``display_size`` is the size it shows.
    """

    path: Path
    format_name: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    frame_count: int | None
    average_rate: Fraction | None
    time_base: Fraction
    duration_s: float | None
    rotation: int
    bit_rate: int | None
    audio: tuple[AudioStreamInfo, ...]
    # Colour tags of the stream as FFmpeg numbers them (AVColorPrimaries,
    # AVColorTransferCharacteristic, AVColorSpace, AVColorRange); 2 / 0 = unspecified.
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    color_range: int = 0
    video_index: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown to the viewer, after rotation."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def check_readable(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path if it names a non-empty regular file we may read."""
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise InputError("input {path} does not exist", path=path) from None
    except PermissionError:
        raise InputError("cannot read input {path}: permission denied", path=path) from None
    if stat.S_ISDIR(status.st_mode):
        raise InputError("input {path} is a folder, not a video file", path=path)
    if not stat.S_ISREG(status.st_mode):
        raise InputError("input {path} is not a regular file", path=path)
    if status.st_size == 0:
        raise InputError("input {path} is empty (0 bytes)", path=path)
    if not os.access(path, os.R_OK):
        raise InputError("cannot read input {path}: permission denied", path=path)
    return path


@contextlib.contextmanager
def open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for demuxing; FFmpeg's refusals become one-line InputErrors."""
    try:
        container = av.open(str(path), mode="r")
    except PermissionError:
        raise InputError("cannot read input {path}: permission denied", path=path) from None
    except av.error.FFmpegError as error:
        raise InputError("input {path} is not a readable video: {reason}", path=path, reason=reason(error)) from None
    try:
        yield container
    finally:
        container.close()


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` and every audio stream beside it.

    Raises InputError (one clear line) when the path is missing, unreadable, empty,
    not a media file, without a video stream, or too damaged to decode a frame.
    """
    path = check_readable(path)
    with open_input(path) as container:
        if not container.streams.video:
            raise InputError("input {path} has no video stream", path=path)
        stream = container.streams.video[0]
        context = stream.codec_context
        if context is None or context.name is None:
            raise InputError("input {path}: video stream uses a codec FFmpeg cannot decode", path=path)
        rotation, first = _first_frame(path, container, stream)
        time_base = stream.time_base or Fraction(1, 90_000)
        duration_s = _seconds(stream.duration, time_base)
        if duration_s is None and container.duration is not None:
            duration_s = container.duration / av.time_base
        audio = tuple(
            AudioStreamInfo(
                index=a.index,
                codec=a.codec_context.codec.canonical_name,
                sample_rate=a.codec_context.sample_rate,
                channels=a.codec_context.channels,
                duration_s=_seconds(a.duration, a.time_base),
            )
            for a in container.streams.audio
            if a.codec_context is not None
        )
        return VideoInfo(
            path=path,
            format_name=container.format.name,
            codec=context.codec.canonical_name,
            width=first.width,
            height=first.height,
            pix_fmt=first.format.name,
            frame_count=stream.frames or None,
            average_rate=stream.average_rate or None,
            time_base=time_base,
            duration_s=duration_s,
            rotation=rotation,
            bit_rate=stream.bit_rate or container.bit_rate or None,
            audio=audio,
            color_primaries=int(first.color_primaries),
            color_trc=int(first.color_trc),
            colorspace=int(first.colorspace),
            color_range=int(first.color_range),
            video_index=stream.index,
        )


def _first_frame(path: Path, container: av.container.InputContainer, stream: VideoStream) -> tuple[int, av.VideoFrame]:
    """Decode the first frame: it carries the display matrix and the real frame size."""
    try:
        for frame in container.decode(stream):
            return (round(frame.rotation / 90) * 90) % 360, frame
    except av.error.FFmpegError as error:
        raise InputError("input {path} is damaged: {reason}", path=path, reason=reason(error)) from None
    raise InputError("input {path} is damaged: its video stream has no decodable frame", path=path)


@dataclass(frozen=True)
class PacketIndex:
    """Every frame's pts in presentation order and which frames are keyframes, read from packets (no decoding).

    ``keyframes`` holds frame indices (positions in ``pts``). ``pts`` is None
    when some video packet has no pts: then frames cannot be addressed by pts.
    """

    pts: tuple[int, ...] | None
    keyframes: tuple[int, ...]


def index_packets(path: str | os.PathLike[str]) -> PacketIndex:
    """Demux the first video stream's packets: their pts (sorted) and keyframe flags."""
    path = check_readable(path)
    stamps: list[int] = []
    keys: list[int] = []
    complete = True
    with open_input(path) as container:
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    complete = False
                    continue
                stamps.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
        except av.error.FFmpegError as error:
            raise InputError("input {path} is damaged: {reason}", path=path, reason=reason(error)) from None
    if not complete or len(set(stamps)) != len(stamps):
        return PacketIndex(None, ())
    ordered = sorted(stamps)
    position = {pts: i for i, pts in enumerate(ordered)}
    return PacketIndex(tuple(ordered), tuple(sorted(position[pts] for pts in keys)))
