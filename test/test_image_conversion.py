"""sensor_msgs/Image decoding: zero-copy views, padding, and every malformed case."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from fanet_ros.image_conversion import (
    ImageConversionError,
    fill_image_msg,
    fill_jpeg_msg,
    image_from_compressed_msg,
    image_from_msg,
    message_array,
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


BGR = (30, 120, 200)
"""A colour with three different channels: a swapped mosaic or byte order changes it."""


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_mosaics_arrive_as_bgr8(pattern):
    index = {"b": 0, "g": 1, "r": 2}
    mosaic = np.zeros((8, 10), np.uint8)
    for k, colour in enumerate(pattern):  # the 2x2 cell, row by row
        mosaic[k // 2::2, k % 2::2] = BGR[index[colour]]
    msg = Image(height=8, width=10, encoding=f"bayer_{pattern}8", step=10, data=mosaic.tobytes())
    decoded = image_from_msg(msg)
    assert decoded.encoding == "bgr8" and decoded.pixels.shape == (8, 10, 3)
    np.testing.assert_array_equal(decoded.pixels[2:-2, 2:-2], np.broadcast_to(BGR, (4, 6, 3)))


@pytest.mark.parametrize(("encoding", "order"), [("uyvy", "uyvy"), ("yuyv", "yuyv"),
                                               ("yuv422", "uyvy"), ("yuv422_yuy2", "yuyv")])
def test_yuv422_arrives_as_bgr8_in_its_byte_order(encoding, order):
    """Bright grey (Y 200, U = V = 128): read in the other byte order it would be coloured.
    sensor_msgs names them uyvy and yuyv now, yuv422 and yuv422_yuy2 deprecated."""
    values = {"y": 200, "u": 128, "v": 128}
    row = np.array([values[c] for c in order] * 3, np.uint8)  # 6 pixels
    msg = Image(height=2, width=6, encoding=encoding, step=12, data=np.tile(row, 2).tobytes())
    decoded = image_from_msg(msg)
    assert decoded.encoding == "bgr8" and decoded.pixels.shape == (2, 6, 3)
    assert np.ptp(decoded.pixels.astype(int), axis=-1).max() <= 1  # grey
    assert decoded.pixels.min() > 180
    msg.width, msg.step = 5, 10
    with pytest.raises(ImageConversionError, match="even width"):
        image_from_msg(msg)


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


def test_serialized_images_are_read_without_deserializing_and_agree():
    from rclpy.serialization import deserialize_message, serialize_message

    from fanet_ros.image_conversion import image_from_serialized

    rng = np.random.default_rng(2)
    for i, (encoding, channels) in enumerate(
        [("rgb8", 3), ("bgr8", 3), ("rgba8", 4), ("bgra8", 4), ("mono8", 1)] * 8
    ):
        height, width = (int(v) for v in rng.integers(1, 30, 2))
        step = width * channels + i % 4  # some rows padded
        msg = Image(height=height, width=width, encoding=encoding, step=step)
        msg.data = rng.integers(0, 255, height * step, dtype=np.uint8).tobytes()
        msg.header.frame_id = "camera_optical"[: i % 15]
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(rng.integers(0, 2**31)), i
        serialized = serialize_message(msg)
        fast = image_from_serialized(serialized)
        assert (fast.stamp_sec, fast.stamp_nanosec, fast.frame_id) == (
            msg.header.stamp.sec, i, msg.header.frame_id
        )
        expected = image_from_msg(deserialize_message(serialized, Image))
        np.testing.assert_array_equal(fast.image.pixels, expected.pixels)
        assert fast.image.encoding == encoding and not fast.image.pixels.flags.owndata
    whole = serialize_message(make_msg(np.zeros((4, 4, 3), np.uint8), "rgb8"))
    with pytest.raises(ImageConversionError, match="malformed|truncated"):
        image_from_serialized(whole[:30])
    assert image_from_serialized(b"\x00\x00\x00\x00big-endian") is None  # caller deserializes


def test_the_stamp_of_any_serialized_frame_is_read_from_its_first_bytes():
    from rclpy.serialization import serialize_message

    from fanet_ros.image_conversion import serialized_stamp_ns

    msg = CompressedImage(format="jpeg", data=b"\xff\xd8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 250
    assert serialized_stamp_ns(serialize_message(msg)) == 1_700_000_000 * 10**9 + 250
    msg.header.stamp.sec = -5
    assert serialized_stamp_ns(serialize_message(msg)) == -5 * 10**9 + 250
    big_endian = b"\x00\x00\x00\x00" + (7).to_bytes(4, "big") + (9).to_bytes(4, "big")
    assert serialized_stamp_ns(big_endian) == 7 * 10**9 + 9
    assert serialized_stamp_ns(b"\x00\x01\x00\x00\x01") is None  # too short
    assert serialized_stamp_ns(b"\x00\x07" + bytes(10)) is None  # XCDR2: not read


def test_message_arrays_are_published_without_a_copy_and_others_are_copied():
    shared = message_array((4, 6, 3))
    shared[:] = 9
    msg = make_msg(shared, "rgb8")
    shared[0, 0, 0] = 1  # the message sees later writes: it holds the same memory
    assert msg.data[0] == 1 and len(msg.data) == shared.nbytes
    assert make_msg(shared[:, :3], "rgb8").data is not msg.data  # a strided view is copied

    plain = np.full((4, 6), 5, np.uint8)
    copied = make_msg(plain, "mono8")
    plain[0, 0] = 1
    assert copied.data[0] == 5


@pytest.mark.parametrize(("encoding", "channels"), [("rgb8", 3), ("bgr8", 3), ("mono8", 1)])
def test_jpeg_outputs_read_back_through_the_node_s_own_compressed_input(encoding, channels):
    """What ~/overlay/compressed sends is what image_from_compressed_msg (image_transport's
    reading) turns back into the same picture, colours in the right order."""
    from sensor_msgs.msg import CompressedImage

    pixels = np.zeros((32, 48, channels), np.uint8)
    pixels[:, :24, 0] = 200  # red in rgb8, blue in bgr8
    msg = fill_jpeg_msg(CompressedImage(), pixels.squeeze(), encoding, CompressedImage().header, 90)
    assert msg.format.startswith(f"{encoding}; jpeg compressed ")
    back = image_from_compressed_msg(msg)
    expected = pixels[..., ::-1] if encoding == "rgb8" else pixels  # decoded as bgr8 / mono8
    assert np.abs(back.pixels.astype(int) - expected.reshape(back.pixels.shape)).mean() < 3
    with pytest.raises(ImageConversionError, match="cannot JPEG-encode"):
        fill_jpeg_msg(CompressedImage(), pixels.squeeze(), "16UC1", CompressedImage().header, 90)
