"""sensor_msgs/Image decoding: zero-copy views, padding, and every malformed case."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from fanet_ros.image_conversion import (
    ImageConversionError,
    fill_image_msg,
    image_from_compressed_msg,
    image_from_msg,
)


def make_msg(pixels: np.ndarray, encoding: str) -> Image:
    msg = Image()
    return fill_image_msg(msg, pixels, encoding, msg.header)


@pytest.mark.parametrize(("encoding", "channels"), [("rgb8", 3), ("bgra8", 4), ("mono8", 1)])
def test_round_trip(encoding, channels):
    pixels = np.random.default_rng(0).integers(0, 255, (5, 7, channels), dtype=np.uint8)
    msg = make_msg(pixels if channels > 1 else pixels[:, :, 0], encoding)
    assert msg.step == 7 * channels
    decoded = image_from_msg(msg)
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert not decoded.pixels.flags.owndata  # a view on the message buffer, no copy


def test_row_padding_is_skipped():
    pixels = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)
    padded = np.zeros((4, 16), np.uint8)
    padded[:, :9] = pixels.reshape(4, 9)
    msg = Image(height=4, width=3, encoding="rgb8", step=16)
    msg.data = padded.tobytes()
    np.testing.assert_array_equal(image_from_msg(msg).pixels, pixels)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoding": "16UC1"}, "unsupported encoding"),
        ({"step": 5}, "step 5 is smaller"),
        ({"height": 0, "width": 0}, "empty image"),
        ({"data": b"\x00" * 10}, "truncated data"),
    ],
)
def test_malformed_messages_raise_with_the_reason(change, message):
    msg = make_msg(np.zeros((4, 6, 3), np.uint8), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageConversionError, match=message):
        image_from_msg(msg)


def test_compressed_png_and_corrupt_jpeg():
    pixels = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", pixels)
    decoded = image_from_compressed_msg(CompressedImage(format="png", data=png.tobytes()))
    assert decoded.encoding == "bgr8"
    np.testing.assert_array_equal(decoded.pixels, pixels)
    with pytest.raises(ImageConversionError, match="corrupt"):
        image_from_compressed_msg(CompressedImage(format="jpeg", data=b"\xff\xd8garbage"))
    with pytest.raises(ImageConversionError, match="unsupported compressed format"):
        image_from_compressed_msg(CompressedImage(format="tiff", data=b"x"))
