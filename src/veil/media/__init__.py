"""veil.media: probing, decoding and encoding video with PyAV (FFmpeg).

Names are FFmpeg's own: stream, frame, packet, time base, pts, rotation.
"""

from veil.media.probe import AudioStreamInfo, VideoInfo, probe
from veil.media.reader import VideoFrame, VideoReader
from veil.media.writer import EncoderSettings, VideoWriter

__all__ = [
    "AudioStreamInfo",
    "EncoderSettings",
    "VideoFrame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "probe",
]
