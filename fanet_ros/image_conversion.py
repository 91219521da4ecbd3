"""sensor_msgs/Image and CompressedImage <-> NumPy, without cv_bridge.

Decoding returns a view on the message buffer where the layout allows (no
copy); every malformed message raises :class:`ImageConversionError` with the
reason, which the node logs (throttled) and counts.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
"""Supported input encodings and their channel counts."""


class ImageConversionError(ValueError):
    """A message that cannot be turned into an image."""


@dataclass(frozen=True)
class DecodedImage:
    """An 8-bit image and the channel order of its pixels."""

    pixels: np.ndarray
    """``[H, W, C]`` uint8 (``C`` = 1, 3 or 4); may be a read-only view on the message."""
    encoding: str

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def image_from_msg(msg: Any) -> DecodedImage:
    """Decode a ``sensor_msgs/Image``; validates encoding, size, step and data length."""
    encoding = msg.encoding
    channels = CHANNELS.get(encoding)
    if channels is None:
        raise ImageConversionError(
            f"unsupported encoding {encoding!r} (supported: {', '.join(CHANNELS)})"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width x channels = {row_bytes} for {encoding}"
        )
    data = msg.data
    needed = step * height
    if len(data) < needed:
        raise ImageConversionError(
            f"truncated data: {len(data)} bytes, {needed} needed for {height} rows of {step}"
        )
    flat = np.frombuffer(data, dtype=np.uint8, count=needed)
    rows = flat.reshape(height, step)
    pixels = rows[:, :row_bytes].reshape(height, width, channels)
    return DecodedImage(pixels, encoding)


def image_from_compressed_msg(msg: Any) -> DecodedImage:
    """Decode a ``sensor_msgs/CompressedImage`` (jpeg or png) to bgr8 or mono8."""
    fmt = msg.format.lower()
    if fmt and not any(k in fmt for k in ("jpeg", "jpg", "png")):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r} (jpeg, png)")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageConversionError("empty compressed image")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint8:
        raise ImageConversionError(
            f"corrupt or unsupported compressed image ({buffer.size} bytes, format {msg.format!r})"
        )
    if decoded.ndim == 2:
        return DecodedImage(decoded[:, :, None], "mono8")
    encoding = {3: "bgr8", 4: "bgra8"}[decoded.shape[2]]
    return DecodedImage(decoded, encoding)


def to_rgb(image: DecodedImage) -> np.ndarray:
    """A contiguous ``[H, W, 3]`` RGB copy (or view, when already rgb8)."""
    px = image.pixels
    conversions = {
        "bgr8": cv2.COLOR_BGR2RGB,
        "rgba8": cv2.COLOR_RGBA2RGB,
        "bgra8": cv2.COLOR_BGRA2RGB,
        "mono8": cv2.COLOR_GRAY2RGB,
    }
    if image.encoding == "rgb8":
        return np.ascontiguousarray(px)
    return cv2.cvtColor(np.ascontiguousarray(px), conversions[image.encoding])


def fill_image_msg(msg: Any, pixels: np.ndarray, encoding: str, header: Any) -> Any:
    """Fill a ``sensor_msgs/Image`` from a contiguous ``[H, W]`` or ``[H, W, C]`` array."""
    pixels = np.ascontiguousarray(pixels)
    msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(pixels.strides[0])
    data = array.array("B")
    data.frombytes(pixels.data)  # one memcpy; assigning an ndarray would go element-wise
    msg.data = data
    return msg
