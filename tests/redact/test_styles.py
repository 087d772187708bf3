"""Redaction styles remove the detail inside boxes and touch nothing outside."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from veil.media.colour import PixelLayout
from veil.redact import Blur, Mosaic, Solid, expand_boxes, make_redactor


@pytest.fixture
def frame() -> np.ndarray:
    """A frame full of fine detail (noise plus sharp stripes)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    image[:, ::4] = 255
    return image


def high_pass(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 2)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


BOX = np.array([[40, 30, 240, 230]])


@pytest.mark.parametrize("style", ["mosaic", "blur", "solid"])
def test_pixels_outside_boxes_are_untouched(frame: np.ndarray, style: str) -> None:
    original = frame.copy()
    make_redactor(style).apply(frame, BOX)
    outside = np.ones(frame.shape[:2], bool)
    outside[30:230, 40:240] = False
    assert np.array_equal(frame[outside], original[outside])
    assert not np.array_equal(frame[30:230, 40:240], original[30:230, 40:240])


def test_mosaic_block_count_stays_small_so_blocks_grow_with_the_region(frame: np.ndarray) -> None:
    for size in (40, 200):
        image = frame.copy()
        Mosaic(blocks=8).apply(image, np.array([[0, 0, size, size]]))
        region = image[:size, :size]
        rows = np.unique(region.reshape(size, -1), axis=0)
        columns = np.unique(region.transpose(1, 0, 2).reshape(size, -1), axis=0)
        assert len(rows) <= 8 and len(columns) <= 8, "no more than 8 distinct blocks across, whatever the size"


@pytest.mark.parametrize("redactor", [Mosaic(), Blur(), Solid()], ids=["mosaic", "blur", "solid"])
def test_fine_detail_is_gone_even_after_sharpening(redactor) -> None:  # type: ignore[no-untyped-def]
    """Pixel-scale detail (noise) cannot be brought back by an unsharp mask."""
    frame = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    original = frame.copy()
    redactor.apply(frame, BOX)
    region = frame[30:230, 40:240]
    sharpened = cv2.addWeighted(region, 3.0, cv2.GaussianBlur(region, (0, 0), 2), -2.0, 0)
    before = high_pass(original[30:230, 40:240])
    assert abs(correlation(before, high_pass(sharpened))) < 0.1


def test_blur_is_smooth_and_strong(frame: np.ndarray) -> None:
    original = frame.copy()
    Blur().apply(frame, BOX)
    region, before = frame[30:230, 40:240], original[30:230, 40:240]
    assert high_pass(region).std() < 0.05 * high_pass(before).std()


def test_ellipse_leaves_the_box_corners_alone(frame: np.ndarray) -> None:
    original = frame.copy()
    Solid(shape="ellipse").apply(frame, BOX)
    assert np.array_equal(frame[30, 40], original[30, 40])
    assert np.array_equal(frame[130, 140], [0, 0, 0])


def test_expand_boxes_pads_enforces_minimum_and_clips_to_the_frame() -> None:
    boxes = np.array([[10, 10, 30, 30], [300, 200, 302, 202], [-5, -5, 5, 5]], np.float32)
    grown = expand_boxes(boxes, padding=0.5, min_size=16, frame_size=(320, 240))
    assert grown[0].tolist() == [0, 0, 40, 40]
    assert grown[1].tolist() == [293, 193, 309, 209]
    assert grown[2].min() >= 0
    assert (grown[:, 2] <= 320).all() and (grown[:, 3] <= 240).all()


def test_unknown_style_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown redaction style 'pixel'"):
        make_redactor("pixel")


# -- on the planes of a YUV frame, as the pipeline covers decoded frames ------------------------

LAYOUT = PixelLayout("yuv420p", matrix=1, range=1)  # BT.709, limited range: HD video's usual


def to_yuv(image: np.ndarray) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    planar = frame.reformat(format="yuv420p", src_colorspace=1, dst_colorspace=1, src_color_range=2, dst_color_range=1)
    return planar.to_ndarray()


def planes_of(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    height, width = yuv.shape[0] * 2 // 3, yuv.shape[1]
    flat, luma, chroma = yuv.reshape(-1), height * width, height * width // 4
    u = flat[luma : luma + chroma].reshape(height // 2, width // 2)
    v = flat[luma + chroma :].reshape(height // 2, width // 2)
    return yuv[:height], u, v


def to_rgb(yuv: np.ndarray) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    return frame.to_ndarray(format="rgb24", src_colorspace=1, src_color_range=1, dst_color_range=2)


@pytest.mark.parametrize("style", ["mosaic", "blur", "solid"])
@pytest.mark.parametrize("shape", ["box", "ellipse"])
def test_covering_the_planes_covers_as_covering_the_rgb_does(frame: np.ndarray, style: str, shape: str) -> None:
    """Mosaic and blur average, which YUV<->RGB conversion commutes with; solid fills with the colour's
    YUV. So a frame covered on its planes looks as one covered in RGB, and nothing outside changes."""
    smooth = cv2.GaussianBlur(frame, (0, 0), 3)  # colour at the scale chroma subsampling keeps
    yuv = to_yuv(smooth)
    original = yuv.copy()
    make_redactor(style, shape).apply_planes(planes_of(yuv), BOX, LAYOUT.planar_colour)
    in_rgb = make_redactor(style, shape).apply(to_rgb(original), BOX)
    inside = (slice(30, 230), slice(40, 240))
    difference = np.abs(to_rgb(yuv)[inside].astype(int) - in_rgb[inside].astype(int))
    assert difference.mean() < 3, difference.mean()
    for plane, before, (x1, y1, x2, y2) in zip(
        planes_of(yuv), planes_of(original), ([40, 30, 240, 230], [20, 15, 120, 115], [20, 15, 120, 115]), strict=True
    ):
        outside = np.ones(plane.shape, bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(plane[outside], before[outside])


def test_a_box_on_odd_pixels_covers_every_chroma_sample_it_touches(frame: np.ndarray) -> None:
    """A chroma sample of 4:2:0 colours 2x2 pixels: a box from an odd pixel covers the samples of the
    pixel pairs it cuts into, and luma exactly the box."""
    yuv = to_yuv(frame)
    box = np.array([[41, 31, 239, 229]])
    Solid(color=(255, 0, 0)).apply_planes(planes_of(yuv), box, LAYOUT.planar_colour)
    y, u, v = planes_of(yuv)
    red = LAYOUT.planar_colour((255, 0, 0))
    assert (y[31:229, 41:239] == red[0]).all()
    assert (y[30, 41:239] != red[0]).any() and (y[31:229, 40] != red[0]).any(), "luma: the box, no more"
    assert (u[15:115, 20:120] == red[1]).all() and (v[15:115, 20:120] == red[2]).all()
