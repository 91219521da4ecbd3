"""Compressed frames are sized from their header before decoding; undecodable or odd
messages raise errors that name the field and the fix."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image

from fanet_ros.image_conversion import (
    ImageConversionError,
    ImageTooLargeError,
    compressed_image_size,
    deserialize_image,
    fill_image_msg,
    image_from_compressed_msg,
    image_from_msg,
)


@pytest.mark.parametrize(
    ("ext", "params", "channels"),
    [(".png", [], 3), (".png", [], 1), (".jpg", [], 3), (".jpg", [], 1),
     (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], 3)],
)
def test_size_is_read_from_png_and_jpeg_headers(ext, params, channels):
    for height, width in ((7, 5), (480, 640), (1080, 1920)):
        pixels = np.zeros((height, width, channels), np.uint8)
        ok, data = cv2.imencode(ext, pixels, params)
        assert ok
        assert compressed_image_size(data.tobytes()) == (height, width)


def test_frame_over_the_limit_is_refused_before_decoding():
    ok, png = cv2.imencode(".png", np.zeros((3000, 4000), np.uint8))
    msg = CompressedImage(format="png", data=png.tobytes())
    with pytest.raises(ImageTooLargeError, match="4000x3000 = 12.0 MP, over the limit of 8.0 MP"):
        image_from_compressed_msg(msg, max_pixels=8_000_000)
    assert image_from_compressed_msg(msg, max_pixels=12_000_000).pixels.shape == (3000, 4000, 1)


@pytest.mark.parametrize("data", [b"GIF89a....", b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_neither_png_nor_jpeg_or_headerless_jpeg_is_refused(data):
    with pytest.raises(ImageConversionError, match="neither a PNG nor a JPEG|corrupt JPEG"):
        image_from_compressed_msg(CompressedImage(format="", data=data))


def test_empty_encoding_names_the_field():
    msg = fill_image_msg(Image(), np.zeros((2, 3, 3), np.uint8), "rgb8", Image().header)
    msg.encoding = ""
    with pytest.raises(ImageConversionError, match="the encoding field is empty: the publisher "
                                                   "must set sensor_msgs/Image.encoding"):
        image_from_msg(msg)


def test_undecodable_bytes_are_bad_input_naming_the_encapsulation():
    with pytest.raises(ImageConversionError,
                       match=r"cannot deserialize the 68-byte Image message \(encapsulation "
                             r"0x0000 \(CDR big-endian\); RMWError\)"):
        deserialize_image(b"\x00\x00\x00\x00" + bytes(range(64)), Image)
    good = fill_image_msg(Image(), np.zeros((2, 3, 3), np.uint8), "bgr8", Image().header)
    assert deserialize_image(serialize_message(good), Image).encoding == "bgr8"
