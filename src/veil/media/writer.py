"""Encoding: frames in, a faithful video out (size, timestamps, rotation, colour, audio)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal

import av
import numpy as np

from veil.errors import InputError, OutputError
from veil.files import AtomicFile
from veil.media.colour import matrix_for, range_for
from veil.media.probe import VideoInfo, _reason

_ENCODERS = {"h264": "libx264", "hevc": "libx265"}
# Defaults measured by decode -> encode of H.264 inputs (720p CCTV, 608x1080 phone,
# 768x432 overhead, synthetic 640x360): CRF 23 + veryfast lands at 0.55-0.93x on the
# real clips; the rate cap keeps low-bit-rate inputs at 1.1-1.35x instead of 3-4x.
_DEFAULT_CRF = {"h264": 23, "hevc": 28}
_MP4_FAMILY = {"mp4", "mov", "m4v", "3gp", "3g2", "ismv", "ipod"}
# Stream tags that say nothing about place, person or device.
_NEUTRAL_STREAM_TAGS = ("language",)


@dataclass(frozen=True)
class EncoderSettings:
    """How the video stream is encoded.

    ``crf`` None picks the codec's default (23 for H.264, 28 for HEVC).
    ``max_rate_factor`` caps the bit rate at that multiple of the input's video
    bit rate (VBV maxrate, with a one-second buffer) so outputs stay in the
    input's size range; None turns the cap off. On typical inputs CRF alone
    lands below the cap; the cap binds on low-bit-rate inputs, where CRF 23
    would otherwise make the output 3-4x the input.
    """

    codec: Literal["h264", "hevc"] = "h264"
    crf: int | None = None
    preset: str = "veryfast"
    keep_metadata: bool = False
    max_rate_factor: float | None = 1.0


class VideoWriter:
    """Write frames to ``path``, carrying over what the ``source`` video had.

    Same size, every frame's pts (the output stream uses the source's time base),
    the display rotation, the colour tags, every audio stream (copied where the
    container can hold the codec, else AAC) interleaved as frames arrive.
    Location and device metadata are left behind unless ``keep_metadata``.
    The file appears at ``path`` only on a successful ``close()``; until then it
    is written under a temporary name in the same folder.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source: VideoInfo,
        settings: EncoderSettings = EncoderSettings(),
    ) -> None:
        if settings.codec not in _ENCODERS:
            raise ValueError(f"codec must be one of {sorted(_ENCODERS)}, not {settings.codec!r}")
        self.path = Path(path)
        self.source = source
        self.settings = settings
        self._last_pts: int | None = None
        self._frames = 0
        self._closed = False
        self._file = AtomicFile(self.path)
        self._temporary = self._file.temporary
        try:
            self._open()
        except BaseException:
            self._abandon()
            raise

    # -- setup -------------------------------------------------------------------

    def _open(self) -> None:
        source, settings = self.source, self.settings
        self._out = _open_output(self.path, self._temporary, settings.keep_metadata)

        width, height = source.width, source.height
        odd = width % 2 or height % 2
        # 4:2:0 (and 4:2:2) H.264/HEVC cannot code an odd width or height; keeping
        # the size exact then needs 4:4:4 (High 4:4:4 / Rext profile).
        self._pix_fmt = "yuv444p" if odd else "yuv420p"
        options = {"preset": settings.preset}
        crf = settings.crf if settings.crf is not None else _DEFAULT_CRF[settings.codec]
        options["crf"] = str(crf)
        if settings.max_rate_factor and source.bit_rate:
            maxrate_k = max(64, int(source.bit_rate * settings.max_rate_factor / 1000))
            if settings.codec == "h264":
                options["maxrate"] = f"{maxrate_k}k"
                options["bufsize"] = f"{maxrate_k}k"
            else:
                options["x265-params"] = f"vbv-maxrate={maxrate_k}:vbv-bufsize={maxrate_k}:log-level=error"
        elif settings.codec == "hevc":
            options["x265-params"] = "log-level=error"
        try:
            stream = self._out.add_stream(_ENCODERS[settings.codec], options=options)
        except ValueError:
            raise OutputError(
                f"{self.path.name}: a {self._out.format.name} file cannot hold {settings.codec};"
                " write .mp4, .mov or .mkv"
            ) from None
        stream.width = width
        stream.height = height
        stream.pix_fmt = self._pix_fmt
        stream.time_base = source.time_base
        context = stream.codec_context
        context.time_base = source.time_base
        if source.average_rate:
            context.framerate = source.average_rate
        self._matrix = matrix_for(source.colorspace, width, height)
        self._range = range_for(source.color_range, source.pix_fmt)
        # The tags say what the source said; an untagged source stays untagged
        # (decoders then guess the same matrix we used), except that a full-range
        # ``yuvj*`` source without a range tag is tagged full, as its pixels are.
        context.colorspace = source.colorspace
        context.color_range = source.color_range or (self._range if self._range == 2 else 0)
        context.color_primaries = source.color_primaries
        context.color_trc = source.color_trc
        if source.rotation:
            stream.set_display_rotation(source.rotation)
        self._video = stream
        self._audio = _AudioCarrier(self._out, source, settings.keep_metadata)
        if settings.keep_metadata:
            self._copy_metadata()

    def _copy_metadata(self) -> None:
        _copy_metadata(self.source, self._out, self._video)

    # -- writing -----------------------------------------------------------------

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one RGB frame (stored orientation) shown at ``pts`` (source time base)."""
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        expected = (self.source.height, self.source.width, 3)
        if image.shape != expected or image.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 RGB of shape {expected}, got {image.dtype} {image.shape}"
            )
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: {pts} after {self._last_pts}")
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame = frame.reformat(
            format=self._pix_fmt,
            src_colorspace=self._matrix,
            dst_colorspace=self._matrix,
            src_color_range=2,
            dst_color_range=self._range,
        )
        frame.pts = pts
        frame.time_base = self.source.time_base
        try:
            self._out.mux(self._video.encode(frame))
            self._audio.up_to(pts * self.source.time_base, self._out)
        except av.error.FFmpegError as error:
            raise OutputError(f"cannot write {self.path}: {_reason(error)}") from None
        self._frames += 1

    def close(self) -> None:
        """Flush the encoder and the remaining audio, write the trailer, publish the file."""
        if self._closed:
            return
        try:
            self._out.mux(self._video.encode(None))
            self._audio.finish(self._out)
            self._out.close()
            self._audio.close()
        except av.error.FFmpegError as error:
            self._abandon()
            raise OutputError(f"cannot write {self.path}: {_reason(error)}") from None
        except BaseException:
            self._abandon()
            raise
        self._closed = True
        self._file.publish()

    def _abandon(self) -> None:
        self._closed = True
        for thing in ("_out", "_audio"):
            obj = getattr(self, thing, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - already failing; the first error wins
                    pass
        self._file.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._abandon()


def _open_output(path: Path, temporary: Path, keep_metadata: bool):  # type: ignore[no-untyped-def]
    """Open the output container: MP4 family with faststart, Matroska keeping negative times."""
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
        raise OutputError(f"cannot write {path}: {_reason(error)}") from None
    return out


def _copy_metadata(source: VideoInfo, out, video) -> None:  # type: ignore[no-untyped-def]
    try:
        with av.open(str(source.path)) as container:
            tags = {k: v for k, v in container.metadata.items() if k not in _MUXER_TAGS}
            out.metadata.update(tags)
            stream = container.streams[source.video_index]
            video.metadata.update({k: v for k, v in stream.metadata.items() if k not in _MUXER_TAGS})
    except av.error.FFmpegError as error:
        raise InputError(f"input {source.path} is not readable: {_reason(error)}") from None


_MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "vendor_id"}


def _format_for(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return {"mkv": "matroska", "m4v": "mp4"}.get(suffix) or (suffix or None)


class _AudioCarrier:
    """Every audio stream of the source, read by a second demuxer and interleaved.

    Packets are copied when the output container can hold the codec, else decoded
    and encoded to AAC. ``up_to(t)`` muxes what the source has up to time ``t``,
    so only one packet per call is held ahead and memory stays flat.
    """

    def __init__(self, out, source: VideoInfo, keep_metadata: bool) -> None:
        self._input = None
        self._pending = None
        self._routes: dict[int, tuple] = {}
        if not source.audio:
            return
        try:
            self._input = av.open(str(source.path))
        except av.error.FFmpegError as error:
            raise InputError(f"input {source.path} is not readable: {_reason(error)}") from None
        streams = [s for s in self._input.streams.audio]
        for stream in streams:
            tags = dict(stream.metadata) if keep_metadata else {
                k: v for k, v in stream.metadata.items() if k in _NEUTRAL_STREAM_TAGS
            }
            try:
                target = out.add_stream_from_template(stream)
                route = ("copy", target, None)
            except ValueError:
                rate = stream.codec_context.sample_rate
                try:
                    target = out.add_stream("aac", rate=rate if rate <= 96_000 else 48_000)
                except ValueError:
                    raise OutputError(
                        f"{out.format.name} cannot hold audio stream {stream.index} "
                        f"({stream.codec_context.name}) nor AAC; write .mp4, .mov or .mkv"
                    ) from None
                target.codec_context.layout = stream.codec_context.layout
                stream.codec_context.thread_type = "AUTO"
                route = ("aac", target, stream.codec_context)
            target.metadata.update({k: v for k, v in tags.items() if k not in _MUXER_TAGS})
            self._routes[stream.index] = route
        self._packets = self._input.demux(*streams)
        self._advance()

    def _advance(self) -> None:
        self._pending = None
        for packet in self._packets:
            if packet.pts is None and packet.dts is None and packet.size == 0:
                # End-of-stream marker: flush that stream's decoder later.
                continue
            self._pending = packet
            return

    def up_to(self, time: Fraction, out) -> None:
        while self._pending is not None:
            packet = self._pending
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None and stamp * packet.time_base > time:
                return
            self._mux(packet, out)
            self._advance()

    def _mux(self, packet, out) -> None:
        kind, target, decoder = self._routes[packet.stream.index]
        if kind == "copy":
            packet.stream = target
            out.mux(packet)
        else:
            for frame in decoder.decode(packet):
                out.mux(target.encode(frame))

    def finish(self, out) -> None:
        self.up_to(Fraction(10**18), out)
        for kind, target, decoder in self._routes.values():
            if kind == "aac":
                for frame in decoder.decode(None):
                    out.mux(target.encode(frame))
                out.mux(target.encode(None))

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None


def join_segments(
    parts: list[Path], path: str | os.PathLike[str], source: VideoInfo, keep_metadata: bool = False, expected_packets: int | None = None
) -> int:
    """Concatenate encoded video-only segment files into ``path`` by stream copy; mux the source's audio once.

    The parts must be consecutive pieces of one video, each written by a
    :class:`VideoWriter` with the same settings and no rotation (the joined
    stream gets the source's). Packets are copied, not re-encoded; their pts are
    kept exactly. At a seam an encoder with B-frames starts the next part with
    dts below its first pts, which can fall at or below the last dts of the part
    before: such dts are moved up to one tick after the previous one (never past
    the packet's own pts, else the join is refused), which keeps dts strictly
    increasing and changes no pts. Audio, metadata rules and faststart are the
    writer's own; the file appears at ``path`` only when complete, and not at
    all if ``expected_packets`` is given and the parts held another number of
    video packets. Returns the number of video packets written.
    """
    path = Path(path)
    if not parts:
        raise ValueError("join_segments needs at least one part")
    atomic = AtomicFile(path)
    out = audio = None
    packets = 0
    try:
        out = _open_output(path, atomic.temporary, keep_metadata)
        target = None
        extradata = None
        last_dts: int | None = None
        time_base = source.time_base
        for part in parts:
            with av.open(str(part)) as container:
                stream = container.streams.video[0]
                if target is None:
                    target = out.add_stream_from_template(stream)
                    target.time_base = time_base
                    if source.rotation:
                        target.set_display_rotation(source.rotation)
                    extradata = stream.codec_context.extradata
                    if keep_metadata:
                        _copy_metadata(source, out, target)
                    audio = _AudioCarrier(out, source, keep_metadata)
                elif stream.codec_context.extradata != extradata:
                    raise OutputError(f"cannot join {part.name}: its codec parameters differ from the first segment's")
                for packet in container.demux(stream):
                    if packet.size == 0 and packet.pts is None:
                        continue
                    if packet.pts is None or packet.dts is None:
                        raise OutputError(f"cannot join {part.name}: a packet has no timestamp")
                    pts, dts = _rescale(packet.pts, packet.time_base, time_base), _rescale(packet.dts, packet.time_base, time_base)
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                        if dts > pts:
                            raise OutputError(f"cannot join {part.name}: no room for a dts between {last_dts} and pts {pts}")
                    last_dts = dts
                    packet.pts, packet.dts = pts, dts
                    if packet.duration:
                        packet.duration = _rescale(packet.duration, packet.time_base, time_base)
                    packet.time_base = time_base
                    packet.stream = target
                    out.mux(packet)
                    audio.up_to(pts * time_base, out)
                    packets += 1
        audio.finish(out)
        out.close()
        out = None
        audio.close()
        if expected_packets is not None and packets != expected_packets:
            raise OutputError(f"cannot write {path}: the segments held {packets} frames, expected {expected_packets}")
    except av.error.FFmpegError as error:
        _close_quietly(out, audio)
        atomic.discard()
        raise OutputError(f"cannot write {path}: {_reason(error)}") from None
    except BaseException:
        _close_quietly(out, audio)
        atomic.discard()
        raise
    atomic.publish()
    return packets


def _rescale(value: int, source: Fraction, target: Fraction) -> int:
    exact = value * source / target
    if exact.denominator != 1:
        raise OutputError(f"cannot join segments: timestamp {value} x {source} is not a whole number of {target}")
    return int(exact)


def _close_quietly(*things) -> None:  # type: ignore[no-untyped-def]
    for thing in things:
        if thing is not None:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - already failing; the first error wins
                pass
