"""Encoding: frames in, a faithful video out (size, timestamps, rotation, colour, audio)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Self

import av
import av.container
import numpy as np
from av.video.stream import VideoStream
from pydantic import BaseModel, ConfigDict, Field

from veil.errors import InputError, OutputError, reason
from veil.files import AtomicFile
from veil.media.audio import MUXER_TAGS, AudioCarrier, AudioEdit
from veil.media.colour import RANGE_JPEG, layout_of
from veil.media.probe import VideoInfo

_ENCODERS: dict[str, Literal["libx264", "libx265"]] = {"h264": "libx264", "hevc": "libx265"}
# Defaults measured by decode -> encode of H.264 inputs (720p CCTV, 608x1080 phone,
# 768x432 overhead, synthetic 640x360): CRF 23 + veryfast lands at 0.55-0.93x on the
# real clips; the rate cap keeps low-bit-rate inputs at 1.1-1.35x instead of 3-4x.
_DEFAULT_CRF = {"h264": 23, "hevc": 28}
_MP4_FAMILY = {"mp4", "mov", "m4v", "3gp", "3g2", "ismv", "ipod"}


class EncoderSettings(BaseModel):
    """How the video stream is encoded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    codec: Literal["h264", "hevc"] = Field(
        default="h264", description="output video codec: h264 (libx264) or hevc (libx265)"
    )
    crf: int | None = Field(
        default=None,
        ge=0,
        le=51,
        description="quality 0-51, lower is better and bigger; unset: 23 for h264, 28 for hevc",
    )
    preset: str = Field(
        default="veryfast",
        description="encoder speed preset (ultrafast ... veryslow): slower makes smaller files at the same quality",
    )
    keep_metadata: bool = Field(
        default=False, description="keep container metadata (GPS location, device make/model); stripped by default"
    )
    max_rate_factor: float | None = Field(
        default=1.0,
        gt=0,
        description=(
            "Cap the bit rate at this multiple of the input's video bit rate (VBV maxrate, one-second buffer), so"
            " outputs stay in the input's size range; None turns the cap off. CRF alone lands below the cap on typical"
            " inputs; it binds on low-bit-rate inputs, where CRF 23 would make the output 3-4x the input."
        ),
        json_schema_extra={"internal": True},
    )

    @property
    def effective_crf(self) -> int:
        """``crf``, or the codec's default when it is None."""
        return self.crf if self.crf is not None else _DEFAULT_CRF[self.codec]


class OutputFile:
    """An output container muxed into a temporary file beside ``path``; it appears at ``path`` only on :meth:`publish`.

    MP4-family files get faststart; Matroska keeps negative times. :meth:`discard`
    is the one cleanup path of a half-written output: it closes the container and
    the source's audio it reads, and removes the file.
    """

    def __init__(self, path: Path, keep_metadata: bool) -> None:
        self.path = path
        self.published = False
        self.discarded = False
        self.audio: AudioCarrier | None = None
        self._file = AtomicFile(path)
        try:
            self.container = _open_container(path, self._file.temporary, keep_metadata)
        except BaseException:
            self._file.discard()
            raise

    def carry_audio(self, source: VideoInfo, keep_metadata: bool, edits: Sequence[AudioEdit] = ()) -> AudioCarrier:
        """Add every audio stream of ``source`` (after the video stream, so the video stays stream 0)."""
        self.audio = AudioCarrier(self.container, source, keep_metadata, edits)
        return self.audio

    @contextlib.contextmanager
    def discarded_on_failure(self) -> Iterator[None]:
        """Any error in the block discards the output; FFmpeg's become OutputErrors that name it."""
        try:
            yield
        except av.error.FFmpegError as error:
            self.discard()
            raise OutputError("cannot write {path}: {reason}", path=self.path, reason=reason(error)) from None
        except BaseException:
            self.discard()
            raise

    def publish(self) -> None:
        """Mux the rest of the audio, write the trailer and move the finished file into place."""
        with self.discarded_on_failure():
            if self.audio is not None:
                self.audio.finish()
            self.container.close()
            if self.audio is not None:
                self.audio.close()
            self._file.publish()
        self.published = True

    def discard(self) -> None:
        """Close what is open, quietly (the error that led here is the one to report), and remove the file."""
        self.discarded = True
        closers = [self.container.close] + ([self.audio.close] if self.audio is not None else [])
        for close in closers:
            with contextlib.suppress(Exception):
                close()
        self._file.discard()


class VideoWriter:
    """Write frames to ``path``, carrying over what the ``source`` video had.

    Same size, every frame's pts (the output stream uses the source's time base),
    the display rotation, the colour tags, every audio stream (copied where the
    container can hold the codec, else AAC) interleaved as frames arrive.
    Location and device metadata are left behind unless ``keep_metadata``.
    ``audio_edits`` silence or bleep the audio over time ranges (a reviewer's).
    The file appears at ``path`` only on a successful ``close()``; until then it
    is written under a temporary name in the same folder.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source: VideoInfo,
        settings: EncoderSettings | None = None,
        audio_edits: Sequence[AudioEdit] = (),
    ) -> None:
        self.path = Path(path)
        self.source = source
        self.settings = settings if settings is not None else EncoderSettings()
        self._last_pts: int | None = None
        self.layout = layout_of(source)
        keep_metadata = self.settings.keep_metadata
        self._output = OutputFile(self.path, keep_metadata)
        with self._output.discarded_on_failure():
            self._video = self._add_video_stream()
            self._audio = self._output.carry_audio(source, keep_metadata, audio_edits)
            if keep_metadata:
                copy_metadata(source, self._output.container, self._video)

    def _add_video_stream(self) -> VideoStream:
        source, settings, out = self.source, self.settings, self._output.container
        try:
            stream = out.add_stream(_ENCODERS[settings.codec], options=_encoder_options(settings, source))
        except ValueError:
            raise OutputError(
                f"{{path}}: a {out.format.name} file cannot hold {settings.codec}; write .mp4, .mov or .mkv",
                path=self.path.name,
            ) from None
        stream.width = source.width
        stream.height = source.height
        stream.pix_fmt = self.layout.pix_fmt
        stream.time_base = source.time_base
        context = stream.codec_context
        context.time_base = source.time_base
        if source.average_rate:
            context.framerate = source.average_rate
        # The tags say what the source said; an untagged source stays untagged
        # (decoders then guess the same matrix we used), except that a full-range
        # ``yuvj*`` source without a range tag is tagged full, as its pixels are.
        context.colorspace = source.colorspace
        context.color_range = source.color_range or (self.layout.range if self.layout.full_range else 0)
        context.color_primaries = source.color_primaries
        context.color_trc = source.color_trc
        if source.rotation:
            stream.set_display_rotation(source.rotation)
        return stream

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one RGB frame (stored orientation) shown at ``pts`` (source time base)."""
        expected = (self.source.height, self.source.width, 3)
        if image.shape != expected or image.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 RGB of shape {expected}, got {image.dtype} {image.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        self._encode(
            frame.reformat(
                format=self.layout.pix_fmt,
                src_colorspace=self.layout.matrix,
                dst_colorspace=self.layout.matrix,
                src_color_range=RANGE_JPEG,
                dst_color_range=self.layout.range,
            ),
            pts,
        )

    def write_yuv(self, yuv: np.ndarray, pts: int) -> None:
        """Encode one frame held in this writer's ``layout`` (as :class:`~veil.media.VideoFrame` holds it),
        shown at ``pts``: no colour conversion, the decoded pixels go to the encoder as they are."""
        width, height = self.source.width, self.source.height
        expected = (3, height, width) if self.layout.pix_fmt == "yuv444p" else (height * 3 // 2, width)
        if yuv.shape != expected or yuv.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 {self.layout.pix_fmt} of shape {expected}, got {yuv.dtype} {yuv.shape}"
            )
        frame = av.VideoFrame.from_ndarray(yuv, format=self.layout.pix_fmt)
        frame.colorspace = self.layout.matrix
        frame.color_range = self.layout.range
        self._encode(frame, pts)

    def _encode(self, frame: av.VideoFrame, pts: int) -> None:
        if self._output.published or self._output.discarded:
            raise ValueError("write() on a closed VideoWriter")
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: {pts} after {self._last_pts}")
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self.source.time_base
        with self._output.discarded_on_failure():
            self._output.container.mux(self._video.encode(frame))
            self._audio.up_to(pts * self.source.time_base)

    def close(self) -> None:
        """Flush the encoder and the remaining audio, write the trailer, publish the file."""
        if self._output.published:
            return
        if self._output.discarded:
            raise ValueError(f"close() on a VideoWriter whose output was discarded: {self.path} was not written")
        with self._output.discarded_on_failure():
            self._output.container.mux(self._video.encode(None))
        self._output.publish()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self._output.discard()


def _encoder_options(settings: EncoderSettings, source: VideoInfo) -> dict[str, str]:
    """libx264 / libx265 options: preset, CRF, and the bit-rate cap where the source has a bit rate."""
    options = {"preset": settings.preset, "crf": str(settings.effective_crf)}
    if settings.max_rate_factor and source.bit_rate:
        maxrate_k = max(64, int(source.bit_rate * settings.max_rate_factor / 1000))
        if settings.codec == "h264":
            options["maxrate"] = f"{maxrate_k}k"
            options["bufsize"] = f"{maxrate_k}k"
        else:
            options["x265-params"] = f"vbv-maxrate={maxrate_k}:vbv-bufsize={maxrate_k}:log-level=error"
    elif settings.codec == "hevc":
        options["x265-params"] = "log-level=error"
    return options


def _open_container(path: Path, temporary: Path, keep_metadata: bool) -> av.container.OutputContainer:
    """Open ``temporary`` in ``path``'s format: MP4 family with faststart, Matroska keeping negative times."""
    movflags = "+faststart"
    if keep_metadata:
        movflags += "+use_metadata_tags"
    try:
        out = av.open(str(temporary), mode="w", format=_format_for(path))
        if set(out.format.name.split(",")) & _MP4_FAMILY:
            out.close()
            out = av.open(str(temporary), mode="w", format=_format_for(path), options={"movflags": movflags})
        elif "matroska" in out.format.name or "webm" in out.format.name:
            # Copied AAC starts before zero (encoder priming); shifting everything
            # to make it non-negative would move every video pts. Matroska can
            # store the negative times, so let it.
            out.close()
            out = av.open(str(temporary), mode="w", format=_format_for(path), options={"avoid_negative_ts": "disabled"})
    except (av.error.FFmpegError, ValueError) as error:
        raise OutputError("cannot write {path}: {reason}", path=path, reason=reason(error)) from None
    return out


def copy_metadata(source: VideoInfo, out: av.container.OutputContainer, video: VideoStream) -> None:
    """Copy the source's container tags to ``out`` and its video stream's tags to ``video`` (not the muxer's own)."""
    try:
        with av.open(str(source.path)) as container:
            out.metadata.update({k: v for k, v in container.metadata.items() if k not in MUXER_TAGS})
            stream = container.streams[source.video_index]
            video.metadata.update({k: v for k, v in stream.metadata.items() if k not in MUXER_TAGS})
    except av.error.FFmpegError as error:
        raise InputError("input {path} is not readable: {reason}", path=source.path, reason=reason(error)) from None


def _format_for(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return {"mkv": "matroska", "m4v": "mp4"}.get(suffix) or (suffix or None)
