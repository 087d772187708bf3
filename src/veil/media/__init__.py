"""veil.media: probing, decoding and encoding video with PyAV (FFmpeg).

Names are FFmpeg's own: stream, frame, packet, time base, pts, rotation.
"""

from veil.media.probe import AudioStreamInfo, PacketIndex, VideoInfo, index_packets, probe
from veil.media.reader import VideoFrame, VideoReader
from veil.media.writer import EncoderSettings, VideoWriter, join_segments

__all__ = [
    "AudioStreamInfo",
    "EncoderSettings",
    "PacketIndex",
    "VideoFrame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "index_packets",
    "join_segments",
    "probe",
]
