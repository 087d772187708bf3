"""Concatenation: encoded segment files joined into one video by stream copy, with the source's audio muxed once."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
from av.packet import Packet
from av.video.stream import VideoStream

from veil.errors import OutputError
from veil.media.audio import AudioCarrier
from veil.media.encode import OutputFile, copy_metadata
from veil.media.probe import VideoInfo


def join_segments(
    parts: list[Path],
    path: str | os.PathLike[str],
    source: VideoInfo,
    keep_metadata: bool = False,
    expected_packets: int | None = None,
) -> int:
    """Concatenate encoded video-only segment files into ``path`` by stream copy; mux the source's audio once.

    The parts must be consecutive pieces of one video, each written by a
    :class:`~veil.media.VideoWriter` with the same settings and no rotation (the
    joined stream gets the source's). Packets are copied, not re-encoded; their
    pts are kept exactly. At a seam an encoder with B-frames starts the next part
    with dts below its first pts, which can fall at or below the last dts of the
    part before: such dts are moved up to one tick after the previous one (never
    past the packet's own pts, else the join is refused), which keeps dts
    strictly increasing and changes no pts. Audio, metadata rules and faststart
    are the writer's own; the file appears at ``path`` only when complete, and
    not at all if ``expected_packets`` is given and the parts held another
    number of video packets. Returns the number of video packets written.
    """
    path = Path(path)
    if not parts:
        raise ValueError("join_segments needs at least one part")
    output = OutputFile(path, keep_metadata)
    with output.discarded_on_failure():
        joiner = _Joiner(output, source, keep_metadata)
        for part in parts:
            joiner.append(part)
        if expected_packets is not None and joiner.packets != expected_packets:
            raise OutputError(
                f"cannot write {{path}}: the segments held {joiner.packets} frames, expected {expected_packets}",
                path=path,
            )
    output.publish()
    return joiner.packets


class _Joiner:
    """The joined video stream, growing one part at a time."""

    def __init__(self, output: OutputFile, source: VideoInfo, keep_metadata: bool) -> None:
        self._output = output
        self._source = source
        self._keep_metadata = keep_metadata
        self._target: VideoStream | None = None
        self._extradata: bytes | None = None
        self._audio: AudioCarrier | None = None
        self._last_dts: int | None = None
        self.packets = 0

    def append(self, part: Path) -> None:
        """Copy every video packet of ``part``, and the source's audio up to its end."""
        with av.open(str(part)) as container:
            stream = container.streams.video[0]
            target, audio = self._streams_for(stream, part)
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue
                pts = self._restamp(packet, part)
                packet.stream = target
                self._output.container.mux(packet)
                audio.up_to(pts * self._source.time_base)
                self.packets += 1

    def _streams_for(self, stream: VideoStream, part: Path) -> tuple[VideoStream, AudioCarrier]:
        """The output's video stream (made from the first part's) and audio; later parts must match the first."""
        if self._target is None or self._audio is None:
            out, source = self._output.container, self._source
            self._target = out.add_stream_from_template(stream)
            self._target.time_base = source.time_base
            if source.rotation:
                self._target.set_display_rotation(source.rotation)
            self._extradata = stream.codec_context.extradata
            if self._keep_metadata:
                copy_metadata(source, out, self._target)
            self._audio = self._output.carry_audio(source, self._keep_metadata)
        elif stream.codec_context.extradata != self._extradata:
            raise OutputError(
                "cannot join {path}: its codec parameters differ from the first segment's", path=part.name
            )
        return self._target, self._audio

    def _restamp(self, packet: Packet[VideoStream], part: Path) -> int:
        """Move ``packet`` to the source's time base, lifting a dts that would not increase; return its pts."""
        if packet.pts is None or packet.dts is None:
            raise OutputError("cannot join {path}: a packet has no timestamp", path=part.name)
        time_base = self._source.time_base
        pts, dts = _rescale(packet.pts, packet.time_base, time_base), _rescale(packet.dts, packet.time_base, time_base)
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1
            if dts > pts:
                raise OutputError(
                    f"cannot join {{path}}: no room for a dts between {self._last_dts} and pts {pts}", path=part.name
                )
        self._last_dts = dts
        packet.pts, packet.dts = pts, dts
        if packet.duration:
            packet.duration = _rescale(packet.duration, packet.time_base, time_base)
        packet.time_base = time_base
        return pts


def _rescale(value: int, source: Fraction, target: Fraction) -> int:
    exact = value * source / target
    if exact.denominator != 1:
        raise OutputError(f"cannot join segments: timestamp {value} x {source} is not a whole number of {target}")
    return int(exact)
