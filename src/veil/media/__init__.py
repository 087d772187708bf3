"""veil.media: probing, decoding and encoding video with PyAV (FFmpeg).

Names are FFmpeg's own: stream, frame, packet, time base, pts, rotation.
"""

from veil.media.concat import join_segments
from veil.media.encode import EncoderSettings, VideoWriter
from veil.media.probe import AudioStreamInfo, PacketIndex, VideoInfo, index_packets, probe
from veil.media.reader import VideoFrame, VideoReader

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
