"""Audio: every audio stream of the source carried into the output, interleaved with the video as it is written."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.audio.stream import AudioStream
from av.codec.context import ThreadType
from av.packet import Packet
from av.stream import Stream

from veil.errors import InputError, OutputError, reason
from veil.media.probe import VideoInfo

MUXER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "vendor_id"})
"""Tags a muxer writes for itself: never copied from the source."""
_NEUTRAL_STREAM_TAGS = ("language",)
"""Stream tags that say nothing about place, person or device."""
_MAX_AAC_RATE = 96_000
_END = Fraction(10**18)


@dataclass(frozen=True)
class CopyRoute:
    """Packets copied as they are: the output container can hold the source's codec."""

    target: AudioStream

    def mux(self, packet: Packet[Stream], out: av.container.OutputContainer) -> None:
        packet.stream = self.target
        out.mux(packet)

    def flush(self, out: av.container.OutputContainer) -> None:
        """Nothing is buffered when packets are copied."""


@dataclass(frozen=True)
class AacRoute:
    """Packets decoded and encoded to AAC: the output container cannot hold the source's codec."""

    decoder: AudioCodecContext
    target: AudioStream

    def mux(self, packet: Packet[Stream], out: av.container.OutputContainer) -> None:
        for frame in self.decoder.decode(packet):
            out.mux(self.target.encode(frame))

    def flush(self, out: av.container.OutputContainer) -> None:
        for frame in self.decoder.decode(None):
            out.mux(self.target.encode(frame))
        out.mux(self.target.encode(None))


@dataclass(frozen=True)
class AudioEdit:
    """Silence (``bleep=False``) or a 1 kHz tone (``bleep=True``) from ``start`` to ``end`` seconds, in source time."""

    start: float
    end: float
    bleep: bool = False


BLEEP_HZ = 1000.0
BLEEP_LEVEL = 0.2  # of full scale


def edit_frame(frame: av.AudioFrame, edits: Sequence[AudioEdit]) -> av.AudioFrame:
    """``frame`` with the samples inside ``edits`` silenced or replaced by the bleep tone (a new frame if changed)."""
    if frame.pts is None or frame.time_base is None:
        return frame
    rate, count = frame.sample_rate, frame.samples
    times = float(frame.pts * frame.time_base) + np.arange(count) / rate
    hits = [edit for edit in edits if edit.start < times[-1] + 1 / rate and edit.end > times[0]]
    if not hits:
        return frame
    samples = frame.to_ndarray()
    planar = frame.format.is_planar
    channels = samples if planar else samples.reshape(count, -1).T  # (channels, samples) view either way
    full = 1.0 if samples.dtype.kind == "f" else float(2 ** (8 * samples.dtype.itemsize - 1) - 1)  # signed PCM
    tone = (np.sin(2 * np.pi * BLEEP_HZ * times) * BLEEP_LEVEL * full).astype(samples.dtype)
    for edit in hits:
        inside = (times >= edit.start) & (times < edit.end)
        channels[:, inside] = tone[inside] if edit.bleep else 0
    edited = av.AudioFrame.from_ndarray(samples, format=frame.format.name, layout=frame.layout.name)
    edited.sample_rate, edited.pts, edited.time_base = rate, frame.pts, frame.time_base
    return edited


@dataclass(frozen=True)
class EditRoute:
    """Packets decoded, silenced or bleeped where asked, and encoded to AAC."""

    decoder: AudioCodecContext
    target: AudioStream
    edits: tuple[AudioEdit, ...]

    def mux(self, packet: Packet[Stream] | None, out: av.container.OutputContainer) -> None:
        for frame in self.decoder.decode(packet):
            out.mux(self.target.encode(edit_frame(frame, self.edits)))

    def flush(self, out: av.container.OutputContainer) -> None:
        self.mux(None, out)
        out.mux(self.target.encode(None))


Route = CopyRoute | AacRoute | EditRoute


class AudioCarrier:
    """Every audio stream of the source, read by a second demuxer and interleaved.

    Packets are copied when the output container can hold the codec, else decoded
    and encoded to AAC. ``up_to(t)`` muxes what the source has up to time ``t``,
    so only one packet per call is held ahead and memory stays flat. Location and
    device tags are left behind unless ``keep_metadata``. With ``edits``, every
    stream is decoded, silenced or bleeped over the edits' times, and encoded to AAC.
    """

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: VideoInfo,
        keep_metadata: bool,
        edits: Sequence[AudioEdit] = (),
    ) -> None:
        self._out = out
        self._input: av.container.InputContainer | None = None
        self._pending: Packet[Stream] | None = None
        self._routes: dict[int, Route] = {}
        self._packets: Iterator[Packet[Stream]] = iter(())
        if not source.audio:
            return
        try:
            self._input = av.open(str(source.path))
        except av.error.FFmpegError as error:
            raise InputError("input {path} is not readable: {reason}", path=source.path, reason=reason(error)) from None
        streams = list(self._input.streams.audio)
        for stream in streams:
            route = _edit_route(out, stream, tuple(edits)) if edits else _route(out, stream)
            route.target.metadata.update(_stream_tags(stream, keep_metadata))
            self._routes[stream.index] = route
        self._packets = self._input.demux(*streams)
        self._advance()

    def _advance(self) -> None:
        self._pending = None
        for packet in self._packets:
            if packet.pts is None and packet.dts is None and packet.size == 0:
                continue  # End-of-stream marker: that stream's decoder is flushed in finish().
            self._pending = packet
            return

    def up_to(self, time: Fraction) -> None:
        """Mux every audio packet that starts at or before ``time`` (seconds)."""
        while self._pending is not None:
            packet = self._pending
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None and stamp * packet.time_base > time:
                return
            self._routes[packet.stream.index].mux(packet, self._out)
            self._advance()

    def finish(self) -> None:
        """Mux the rest of the audio and flush the AAC encoders."""
        self.up_to(_END)
        for route in self._routes.values():
            route.flush(self._out)

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None


def _stream_tags(stream: AudioStream, keep_metadata: bool) -> dict[str, str]:
    """The tags ``stream`` passes on: all but the muxer's own with ``keep_metadata``, else only neutral ones."""
    tags = stream.metadata if keep_metadata else {k: v for k, v in stream.metadata.items() if k in _NEUTRAL_STREAM_TAGS}
    return {k: v for k, v in tags.items() if k not in MUXER_TAGS}


def _route(out: av.container.OutputContainer, stream: AudioStream) -> Route:
    """Copy ``stream`` if ``out`` can hold its codec, else encode it to AAC."""
    try:
        return CopyRoute(out.add_stream_from_template(stream))
    except ValueError:
        pass
    return _aac_route(out, stream)


def _edit_route(out: av.container.OutputContainer, stream: AudioStream, edits: tuple[AudioEdit, ...]) -> Route:
    route = _aac_route(out, stream)
    return EditRoute(route.decoder, route.target, edits)


def _aac_route(out: av.container.OutputContainer, stream: AudioStream) -> AacRoute:
    """Decode ``stream`` and encode it to AAC."""
    rate = stream.codec_context.sample_rate
    try:
        target = out.add_stream("aac", rate=rate if rate <= _MAX_AAC_RATE else 48_000)
    except ValueError:
        raise OutputError(
            f"{out.format.name} cannot hold audio stream {stream.index} ({stream.codec_context.name}) nor AAC;"
            " write .mp4, .mov or .mkv"
        ) from None
    target.codec_context.layout = stream.codec_context.layout
    stream.codec_context.thread_type = ThreadType.AUTO
    return AacRoute(stream.codec_context, target)
