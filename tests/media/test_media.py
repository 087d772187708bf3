"""veil.media round trips on real clips made by the tests themselves."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media_factory import (
    LOCATION,
    frame_pts,
    make_clip,
    make_text_file,
    psnr,
    top_level_boxes,
    truncate,
)
from veil.errors import InputError, OutputError
from veil.media import EncoderSettings, VideoInfo, VideoReader, VideoWriter, probe

NTSC = Fraction(30000, 1001)


DEFAULT_SETTINGS = EncoderSettings()


def rewrite(source: Path, target: Path, settings: EncoderSettings = DEFAULT_SETTINGS) -> VideoInfo:
    """Decode every frame of ``source`` and encode it unchanged, pts and all."""
    info = probe(source)
    with VideoReader(source, info) as reader, VideoWriter(target, info, settings) as writer:
        for frame in reader:
            writer.write(frame.to_rgb(), frame.pts)
    return info


def times_ms(path: Path) -> list[float]:
    with VideoReader(path) as reader:
        return [frame.timestamp_ms for frame in reader]


def assert_same_timing(source: Path, target: Path) -> None:
    before, after = times_ms(source), times_ms(target)
    assert len(after) == len(before)
    assert np.max(np.abs(np.array(after) - np.array(before))) <= 1.0


# -- probe ----------------------------------------------------------------------------


def test_probe_reports_rate_as_fraction_size_duration_and_format(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", size=(160, 96), frames=30, rate=NTSC)
    info = probe(clip)
    assert info.average_rate == NTSC
    assert isinstance(info.average_rate, Fraction)
    assert (info.width, info.height) == (160, 96)
    assert info.display_size == (160, 96)
    assert info.pix_fmt == "yuv420p"
    assert info.codec == "h264"
    assert info.frame_count == 30
    assert info.duration_s == pytest.approx(30 / float(NTSC), abs=1e-3)
    assert info.rotation == 0
    assert info.audio == ()
    assert "mp4" in info.format_name


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_probe_reports_rotation_and_display_size(tmp_path, rotation):
    info = probe(make_clip(tmp_path / "r.mp4", size=(160, 96), frames=3, rotation=rotation))
    assert info.rotation == rotation
    assert (info.width, info.height) == (160, 96)
    assert info.display_size == ((96, 160) if rotation in (90, 270) else (160, 96))


def test_probe_lists_audio_streams(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", audio=[("aac", 48000, 2), ("aac", 44100, 1)])
    audio = probe(clip).audio
    assert [(a.codec, a.sample_rate, a.channels) for a in audio] == [("aac", 48000, 2), ("aac", 44100, 1)]
    assert all(a.duration_s == pytest.approx(12 / float(NTSC), abs=0.05) for a in audio)


# -- reader -----------------------------------------------------------------------------


def test_reader_yields_every_frame_with_its_pts_in_order(tmp_path):
    clip = make_clip(tmp_path / "v.mp4", frames=20, vfr=True)
    with VideoReader(clip) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(20))
    assert [f.pts for f in frames] == frame_pts(20, NTSC, Fraction(1, 90_000), vfr=True)
    rgb = frames[0].to_rgb()
    assert rgb.shape == (96, 160, 3) and rgb.dtype == np.uint8
    assert frames[3].timestamp_ms == pytest.approx(33 + 50 + 17)


@pytest.mark.parametrize(
    ("name", "options", "codec"),
    [
        ("vp9.webm", {"codec": "vp9", "audio": [("libopus", 48000, 2)]}, "vp9"),
        ("av1.mkv", {"codec": "av1"}, "av1"),
        ("hevc10.mkv", {"codec": "hevc", "pix_fmt": "yuv420p10le"}, "hevc"),
        ("hevc10.mov", {"codec": "hevc", "pix_fmt": "yuv420p10le"}, "hevc"),
        ("mpeg4.avi", {"codec": "mpeg4"}, "mpeg4"),
    ],
)
def test_other_containers_and_codecs_decode_and_rewrite(tmp_path, name, options, codec):
    clip = make_clip(tmp_path / name, frames=8, **options)
    info = probe(clip)
    assert info.codec == codec
    with VideoReader(clip) as reader:
        assert len(list(reader)) == 8
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    written = probe(out)
    assert (written.codec, written.pix_fmt) == ("h264", "yuv420p")  # 10-bit in, 8-bit out
    assert (written.width, written.height) == (info.width, info.height)
    assert_same_timing(clip, out)
    assert len(written.audio) == len(info.audio)


# -- writer: timing and size -------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "frames", "vfr"),
    [
        ((160, 96), 30, False),  # CFR 29.97
        ((160, 96), 30, True),  # irregular pts
        ((1080, 1920), 3, False),  # portrait phone size
    ],
    ids=["cfr-29.97", "vfr", "1080x1920"],
)
def test_rewrite_keeps_size_frame_count_and_every_pts(tmp_path, size, frames, vfr):
    clip = make_clip(tmp_path / "in.mp4", size=size, frames=frames, vfr=vfr)
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    info = probe(out)
    assert (info.width, info.height) == size
    assert info.frame_count == frames
    assert info.time_base == Fraction(1, 90_000)
    assert_same_timing(clip, out)


def test_odd_width_keeps_exact_size(tmp_path):
    # 4:2:0 H.264 cannot code an odd width, so the source is MPEG-4 part 2 and the
    # writer falls back to 4:4:4 rather than pad or crop.
    clip = make_clip(tmp_path / "in.avi", size=(853, 480), frames=3, codec="mpeg4")
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    info = probe(out)
    assert (info.width, info.height) == (853, 480)
    assert_same_timing(clip, out)


def test_hevc_output(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=6, vfr=True)
    out = tmp_path / "out.mp4"
    rewrite(clip, out, EncoderSettings(codec="hevc"))
    assert probe(out).codec == "hevc"
    assert_same_timing(clip, out)


def test_rotation_is_kept(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", size=(160, 96), frames=4, rotation=90)
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    info = probe(out)
    assert info.rotation == 90
    assert (info.width, info.height) == (160, 96)
    assert info.display_size == (96, 160)


def test_unchanged_frames_are_faithful(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", size=(320, 180), frames=6, colorspace=1, color_range=1)
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    with VideoReader(clip) as a, VideoReader(out) as b:
        scores = [psnr(x.to_rgb(), y.to_rgb()) for x, y in zip(a, b, strict=True)]
    assert min(scores) > 35, scores
    before, after = probe(clip), probe(out)
    assert (after.colorspace, after.color_range) == (before.colorspace, before.color_range) == (1, 1)
    assert (after.color_primaries, after.color_trc) == (before.color_primaries, before.color_trc)


def test_full_range_source_keeps_range_and_colours(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", size=(320, 180), frames=4, pix_fmt="yuvj420p", color_range=2)
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    assert probe(out).color_range == 2
    with VideoReader(clip) as a, VideoReader(out) as b:
        assert min(psnr(x.to_rgb(), y.to_rgb()) for x, y in zip(a, b, strict=True)) > 35


@pytest.mark.parametrize(
    ("size", "codec", "suffix", "layout"),
    [((320, 180), "h264", ".mp4", "yuv420p"), ((853, 480), "mpeg4", ".avi", "yuv444p")],
)
def test_frames_go_to_the_encoder_as_decoded(tmp_path, size, codec, suffix, layout):
    """A decoded frame is held as the planar YUV the writer codes (4:4:4 for an odd size) and reaches
    the encoder unconverted: coded losslessly, the output's planes equal the input's bit for bit,
    where a trip through RGB and back rounds them. It holds half the bytes of its RGB copy."""
    clip = make_clip(tmp_path / f"in{suffix}", size=size, frames=4, codec=codec)
    out = tmp_path / "out.mp4"
    info = probe(clip)
    lossless = EncoderSettings(crf=0, max_rate_factor=None)
    with VideoReader(clip, info) as reader, VideoWriter(out, info, lossless) as writer:
        for frame in reader:
            assert writer.layout == frame.layout and frame.layout.pix_fmt == layout
            writer.write_yuv(frame.yuv, frame.pts)
    round_trip = tmp_path / "rgb.mp4"
    rewrite(clip, round_trip, lossless)
    with VideoReader(clip) as a, VideoReader(out) as b, VideoReader(round_trip) as c:
        for x, y, z in zip(a, b, c, strict=True):
            assert np.array_equal(x.yuv, y.yuv), "the planes as decoded"
            assert not np.array_equal(x.yuv, z.yuv), "through RGB they would not be"
            if layout == "yuv420p":
                assert x.yuv.nbytes * 2 == x.to_rgb().nbytes
    assert_same_timing(clip, out)


def test_planes_are_views_of_the_frame_and_luma_is_full_range(tmp_path):
    """Writing to a plane changes the frame that is encoded; the grey picture the schedule and the
    camera motion compare is limited-range luma (16-235) stretched to 0-255: the RGB picture's luma."""
    clip = make_clip(tmp_path / "in.mp4", size=(320, 180), frames=1, colorspace=1, color_range=1)
    with VideoReader(clip) as reader:
        frame = next(iter(reader))
    y, u, v = frame.planes
    assert y.shape == (180, 320) and u.shape == v.shape == (90, 160)
    grey = frame.to_rgb().astype(float) @ [0.2126, 0.7152, 0.0722]  # BT.709 luma, as the clip is tagged
    assert np.abs(frame.grey() - grey).mean() < 1.5
    y[:] = 16
    u[:] = v[:] = 128
    assert frame.to_rgb().max() <= 1, "black everywhere once the planes are"


# -- writer: audio ------------------------------------------------------------------------


def audio_durations(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(s.duration * s.time_base) for s in container.streams.audio]


def test_aac_audio_is_copied(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=30, audio=[("aac", 48000, 2)])
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        source = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        copied = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert copied == source  # stream copy: the very same packets
    frame_s = 1 / float(NTSC)
    assert audio_durations(out)[0] == pytest.approx(audio_durations(clip)[0], abs=frame_s)


def test_audio_mp4_cannot_hold_becomes_aac(tmp_path):
    clip = make_clip(tmp_path / "in.mov", frames=30, audio=[("pcm_mulaw", 8000, 1)])
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    (audio,) = probe(out).audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 8000, 1)
    frame_s = 1 / float(NTSC)
    assert audio.duration_s == pytest.approx(probe(clip).audio[0].duration_s, abs=frame_s)


def test_two_audio_streams_are_kept(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=30, vfr=True, audio=[("aac", 48000, 2), ("aac", 22050, 1)])
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    info = probe(out)
    assert [(a.codec, a.sample_rate, a.channels) for a in info.audio] == [("aac", 48000, 2), ("aac", 22050, 1)]
    frame_s = float(max(Fraction(step, 1000) for step in (33, 50, 17, 100, 41, 33, 67)))
    for got, want in zip(audio_durations(out), audio_durations(clip), strict=True):
        assert got == pytest.approx(want, abs=frame_s)
    assert_same_timing(clip, out)


# -- writer: metadata and layout ------------------------------------------------------------


def container_tags(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return dict(container.metadata)


def test_location_and_device_metadata_stripped_by_default(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", location_metadata=True)
    assert container_tags(clip)["com.apple.quicktime.location.ISO6709"] == LOCATION
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    tags = container_tags(out)
    assert not {k for k in tags if "location" in k or "make" in k or "model" in k}, tags
    assert LOCATION.encode() not in out.read_bytes()
    assert b"iPhone" not in out.read_bytes()


def test_keep_metadata_copies_it(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", location_metadata=True)
    out = tmp_path / "out.mp4"
    rewrite(clip, out, EncoderSettings(keep_metadata=True))
    tags = container_tags(out)
    assert tags["com.apple.quicktime.location.ISO6709"] == LOCATION
    assert tags["com.apple.quicktime.model"] == "iPhone 15 Pro"


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_output_is_faststart(tmp_path, suffix):
    clip = make_clip(tmp_path / "in.mp4")
    out = tmp_path / f"out{suffix}"
    rewrite(clip, out)
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_output_appears_only_when_complete(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    info = probe(clip)
    out = tmp_path / "out.mp4"

    def fail_midway() -> None:
        with VideoWriter(out, info) as writer:
            writer.write(np.zeros((96, 160, 3), np.uint8), 0)
            raise RuntimeError("pipeline failed")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert list(tmp_path.iterdir()) == [clip]


def test_writer_rejects_wrong_frame_shape_and_pts_going_back(tmp_path):
    info = probe(make_clip(tmp_path / "in.mp4"))
    with VideoWriter(tmp_path / "out.mp4", info) as writer:
        with pytest.raises(ValueError, match="shape"):
            writer.write(np.zeros((96, 161, 3), np.uint8), 0)
        writer.write(np.zeros((96, 160, 3), np.uint8), 3003)
        with pytest.raises(ValueError, match="pts must increase"):
            writer.write(np.zeros((96, 160, 3), np.uint8), 3003)


# -- bad inputs and outputs ----------------------------------------------------------------


def assert_one_line_input_error(path: Path, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        probe(path)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    assert fragment in message, message


def test_missing_path(tmp_path):
    assert_one_line_input_error(tmp_path / "nope.mp4", "does not exist")


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    assert_one_line_input_error(path, "empty")


def test_text_file_named_mp4(tmp_path):
    assert_one_line_input_error(make_text_file(tmp_path / "notes.mp4"), "not a readable video")


def test_truncated_mp4_without_moov(tmp_path):
    # Written without faststart, so the moov box sits at the end and is cut off.
    clip = make_clip(tmp_path / "in.mp4", frames=20)
    assert top_level_boxes(clip)[-1] == "moov"
    assert_one_line_input_error(truncate(clip, tmp_path / "cut.mp4"), "not a readable video")


def test_folder_instead_of_file(tmp_path):
    assert_one_line_input_error(tmp_path, "is a folder")


def test_no_video_stream(tmp_path):
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.int16), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert_one_line_input_error(path, "no video stream")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    clip.chmod(0)
    try:
        assert_one_line_input_error(clip, "permission denied")
    finally:
        clip.chmod(0o644)


def test_output_folder_missing(tmp_path):
    info = probe(make_clip(tmp_path / "in.mp4"))
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "out.mp4", info)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders whatever their mode")
def test_output_folder_not_writable(tmp_path):
    info = probe(make_clip(tmp_path / "in.mp4"))
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            VideoWriter(folder / "out.mp4", info)
    finally:
        folder.chmod(0o755)


def test_output_folder_on_read_only_filesystem(tmp_path):
    # Works as root too: a read-only mount refuses everyone.
    info = probe(make_clip(tmp_path / "in.mp4"))
    folder = Path("/proc/self")
    if os.access(folder, os.W_OK) and _can_create(folder):
        pytest.skip("no read-only folder available")
    with pytest.raises(OutputError, match="cannot write to output folder"):
        VideoWriter(folder / "out.mp4", info)


def _can_create(folder: Path) -> bool:
    try:
        (folder / ".veil-probe").touch()
    except OSError:
        return False
    (folder / ".veil-probe").unlink()
    return True


def test_fifo_instead_of_file(tmp_path):
    # As root, chmod 000 does not make a file unreadable; a FIFO is an input that
    # cannot be probed whoever runs the tests (and opening it would block).
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert_one_line_input_error(fifo, "not a regular file")


def test_decode_error_mid_stream_raises_instead_of_skipping(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", size=(320, 180), frames=60)
    data = bytearray(clip.read_bytes())
    start = data.find(b"mdat") + (len(data) - data.find(b"mdat")) // 2
    data[start : start + 3000] = np.random.default_rng(1).integers(0, 256, 3000, np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    info = probe(damaged)  # the first frames are fine
    with pytest.raises(InputError, match=r"decoding failed|corrupt"), VideoReader(damaged, info) as reader:
        for _ in reader:
            pass


def test_default_settings_keep_low_bit_rate_inputs_near_their_size(tmp_path):
    # A low-bit-rate H.264 input (CRF 35): CRF 23 alone would make it ~3.7x larger;
    # the default rate cap keeps it within 1.5x.
    clip = make_clip(tmp_path / "in.mp4", size=(640, 360), frames=60, crf=35)
    out = tmp_path / "out.mp4"
    rewrite(clip, out)
    ratio = out.stat().st_size / clip.stat().st_size
    assert 0.5 <= ratio <= 1.5, ratio


def test_container_that_cannot_hold_h264_is_an_output_error(tmp_path):
    info = probe(make_clip(tmp_path / "in.mp4"))
    with pytest.raises(OutputError, match="cannot hold h264"):
        VideoWriter(tmp_path / "out.webm", info)
    assert list(tmp_path.iterdir()) == [tmp_path / "in.mp4"]


def test_mkv_output_keeps_timing_and_audio(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=10, vfr=True, audio=[("aac", 48000, 2)])
    out = tmp_path / "out.mkv"
    rewrite(clip, out)
    assert len(probe(out).audio) == 1
    assert_same_timing(clip, out)


def test_encoder_settings_are_validated_frozen_and_keep_their_defaults() -> None:
    from pydantic import ValidationError

    default = EncoderSettings()
    assert (default.codec, default.crf, default.preset, default.keep_metadata, default.max_rate_factor) == (
        "h264",
        None,
        "veryfast",
        False,
        1.0,
    )
    assert (
        default.effective_crf,
        EncoderSettings(codec="hevc").effective_crf,
        EncoderSettings(crf=18).effective_crf,
    ) == (23, 28, 18)
    assert hash(default) == hash(EncoderSettings())
    for bad in ({"codec": "vp9"}, {"crf": 52}, {"crf": -1}, {"bitrate": 1}):
        with pytest.raises(ValidationError):
            EncoderSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        default.crf = 20  # type: ignore[misc]
    internal = {
        name for name, field in EncoderSettings.model_fields.items() if (field.json_schema_extra or {}).get("internal")
    }
    assert internal == {"max_rate_factor"}
