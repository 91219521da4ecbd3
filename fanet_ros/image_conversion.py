"""sensor_msgs/Image and CompressedImage <-> NumPy, without cv_bridge.

Decoding returns a view on the message buffer where the layout allows (no
copy); every malformed message raises :class:`ImageConversionError` with the
reason, which the node logs (throttled) and counts.
"""

from __future__ import annotations

import array
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
"""Encodings the pipeline takes as they are, and their channel counts."""

CONVERTED_TO_BGR = {
    "bayer_rggb8": (1, cv2.COLOR_BayerBG2BGR),  # OpenCV names a mosaic by its second row
    "bayer_bggr8": (1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": (1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": (1, cv2.COLOR_BayerGB2BGR),
    "uyvy": (2, cv2.COLOR_YUV2BGR_UYVY),
    "yuyv": (2, cv2.COLOR_YUV2BGR_YUYV),
    "yuv422": (2, cv2.COLOR_YUV2BGR_UYVY),  # uyvy's deprecated name in sensor_msgs
    "yuv422_yuy2": (2, cv2.COLOR_YUV2BGR_YUYV),  # yuyv's
}
"""Encodings converted to bgr8 on arrival, as cv_bridge's ``toCvCopy(msg, "bgr8")`` does:
the raw Bayer mosaics of machine-vision cameras, the YUV 4:2:2 of UVC ones. Bytes per pixel
and the OpenCV conversion."""

INPUT_ENCODINGS = (*CHANNELS, *CONVERTED_TO_BGR)
"""Every ``sensor_msgs/Image`` encoding the node reads."""

_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}


def as_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """``[H, W, 3]`` RGB from pixels in one of :data:`CHANNELS`' encodings (``pixels``
    itself for rgb8)."""
    conversion = _TO_RGB.get(encoding)
    return pixels if conversion is None else cv2.cvtColor(pixels, conversion)


class ImageConversionError(ValueError):
    """A message that cannot be turned into an image."""


class ImageTooLargeError(ImageConversionError):
    """A compressed frame whose header promises more pixels than the node decodes."""


@dataclass(frozen=True)
class DecodedImage:
    """An 8-bit image and the channel order of its pixels."""

    pixels: np.ndarray
    """``[H, W, C]`` uint8 (``C`` = 1, 3 or 4); may be a read-only view on the message."""
    encoding: str
    extra_bytes: int = 0
    """Bytes of a raw message's ``data`` beyond ``step x height`` (ignored; the convention is
    none: the node accepts such a frame, as cv_bridge does, and warns)."""

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def image_from_msg(msg: Any) -> DecodedImage:
    """Decode a ``sensor_msgs/Image``; validates encoding, size, step and data length."""
    return pixels_view(msg.data, msg.encoding, int(msg.height), int(msg.width), int(msg.step))


CLASS_ID_ENCODINGS = ("mono8", "8UC1")
"""Encodings of label images: ``8UC1`` is what cv_bridge's ``cv2_to_imgmsg`` names a
one-channel uint8 array (labelling tools, simulators)."""


def class_ids_from_msg(msg: Any) -> np.ndarray:
    """``[H, W]`` uint8 class ids of a label ``sensor_msgs/Image`` (mono8 or 8UC1)."""
    if msg.encoding not in CLASS_ID_ENCODINGS:
        raise ImageConversionError(
            f"carries {msg.encoding or 'an empty encoding'}, not class ids "
            f"({' or '.join(CLASS_ID_ENCODINGS)})")
    return pixels_view(msg.data, "mono8", int(msg.height), int(msg.width),
                       int(msg.step)).pixels[:, :, 0]


def pixels_view(data: Any, encoding: str, height: int, width: int, step: int) -> DecodedImage:
    """A ``[H, W, C]`` view on an image buffer, after checking it holds such an image (a
    bgr8 copy for the encodings of :data:`CONVERTED_TO_BGR`)."""
    channels, conversion = CONVERTED_TO_BGR.get(encoding, (CHANNELS.get(encoding), None))
    if channels is None:
        what = f"unsupported encoding {encoding!r}" if encoding else "the encoding field is empty"
        raise ImageConversionError(
            f"{what}: the publisher must set sensor_msgs/Image.encoding to one of "
            f"{', '.join(INPUT_ENCODINGS)}"
        )
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if channels == 2 and width % 2:
        raise ImageConversionError(f"{encoding} needs an even width, not {width}")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width x channels = {row_bytes} for {encoding}"
        )
    needed = step * height
    if len(data) < needed:
        raise ImageConversionError(
            f"truncated data: {len(data)} bytes, {needed} needed for {height} rows of {step}"
        )
    flat = np.frombuffer(data, dtype=np.uint8, count=needed)
    rows = flat.reshape(height, step)
    pixels = rows[:, :row_bytes].reshape(height, width, channels)
    if conversion is not None:
        source = pixels[:, :, 0] if channels == 1 else pixels
        return DecodedImage(cv2.cvtColor(np.ascontiguousarray(source), conversion), "bgr8",
                            extra_bytes=len(data) - needed)
    return DecodedImage(pixels, encoding, extra_bytes=len(data) - needed)


@dataclass(frozen=True)
class SerializedImage:
    """A ``sensor_msgs/Image`` read straight from its CDR bytes (pixels not copied)."""

    stamp_sec: int
    stamp_nanosec: int
    frame_id: str
    image: DecodedImage


_CDR_LE = b"\x00\x01"
CDR_ENCAPSULATIONS = {
    0x0000: "CDR big-endian", 0x0001: "CDR little-endian",
    0x0002: "PL_CDR big-endian", 0x0003: "PL_CDR little-endian",
    0x0006: "XCDR2 big-endian", 0x0007: "XCDR2 little-endian",
    0x0008: "delimited XCDR2 big-endian", 0x0009: "delimited XCDR2 little-endian",
    0x000A: "PL_CDR2 big-endian", 0x000B: "PL_CDR2 little-endian",
}
"""Serialized-data encapsulation identifiers (DDS-XTypes 1.3, 7.6.3.1.2)."""


def encapsulation_name(serialized: bytes) -> str:
    """What the first two bytes of a serialized message say its encoding is."""
    if len(serialized) < 4:
        return f"no encapsulation header ({len(serialized)} bytes)"
    ident = int.from_bytes(bytes(serialized[:2]), "big")
    return f"encapsulation 0x{ident:04x} ({CDR_ENCAPSULATIONS.get(ident, 'unknown')})"


class _CdrReader:
    """Little-endian XCDR1 reading, aligned relative to the encapsulation header."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 4

    def uint32(self) -> int:
        self.pos += -(self.pos - 4) % 4
        (value,) = struct.unpack_from("<I", self.data, self.pos)
        self.pos += 4
        return value

    def string(self) -> str:
        length = self.uint32()  # includes the terminating NUL
        text = bytes(self.data[self.pos : self.pos + max(length - 1, 0)]).decode()
        self.pos += length
        return text

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value


def image_from_serialized(serialized: bytes) -> SerializedImage | None:
    """Header and pixel view of a serialized ``sensor_msgs/Image`` without deserializing it.

    Returns ``None`` for an encapsulation other than little-endian CDR (the
    caller then deserializes normally); raises :class:`ImageConversionError`
    for a malformed message.
    """
    data = memoryview(serialized)
    if bytes(data[:2]) != _CDR_LE:
        return None
    try:
        cdr = _CdrReader(data)
        sec, nanosec = cdr.uint32(), cdr.uint32()
        frame_id = cdr.string()
        height, width = cdr.uint32(), cdr.uint32()
        encoding = cdr.string()
        cdr.byte()  # is_bigendian: irrelevant for 8-bit encodings
        step = cdr.uint32()
        size = cdr.uint32()
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ImageConversionError(f"malformed serialized Image ({exc})") from None
    sec = sec - (1 << 32) if sec >= 1 << 31 else sec  # int32 seconds
    pixels = data[cdr.pos : cdr.pos + size]
    if len(pixels) < size:
        raise ImageConversionError(f"truncated serialized Image: {len(pixels)} of {size} bytes")
    return SerializedImage(sec, nanosec, frame_id,
                           pixels_view(pixels, encoding, height, width, step))


def serialized_stamp_ns(serialized: bytes) -> int | None:
    """The header stamp (ns) of a serialized message whose first field is a
    ``std_msgs/Header`` (Image, CompressedImage), read from its first 12 bytes; ``None`` for
    an encapsulation other than plain CDR or a message too short to hold one."""
    order = {b"\x00\x01": "<", b"\x00\x00": ">"}.get(bytes(serialized[:2]))
    if order is None or len(serialized) < 12:
        return None
    sec, nanosec = struct.unpack_from(f"{order}iI", serialized, 4)
    return sec * 1_000_000_000 + nanosec


def deserialize_image(serialized: bytes, msg_type: type) -> Any:
    """``deserialize_message`` whose failures are :class:`ImageConversionError` naming the
    encapsulation (a corrupt or foreign-encoded frame is a bad input, not a node failure)."""
    from rclpy.serialization import deserialize_message

    try:
        return deserialize_message(serialized, msg_type)
    except Exception as exc:  # rclpy raises RMWError (and others) for undecodable bytes
        raise ImageConversionError(
            f"cannot deserialize the {len(serialized)}-byte {msg_type.__name__} message "
            f"({encapsulation_name(serialized)}; {type(exc).__name__}): the publisher sent "
            f"bytes that are not a {msg_type.__name__}; check its message type and serialization"
        ) from None


def is_plain_cdr(serialized: bytes) -> bool:
    """True for the plain (XCDR1) CDR encapsulations ROS 2 publishers send."""
    return bytes(serialized[:2]) in (b"\x00\x00", _CDR_LE)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (SOF0..SOF15 less DHT, JPG and DAC): they carry the size."""


def compressed_image_size(data: bytes) -> tuple[int, int]:
    """``(height, width)`` from a PNG or JPEG header, without decoding the pixels."""
    view = memoryview(data)
    if bytes(view[:8]) == _PNG_SIGNATURE and len(view) >= 24 and bytes(view[12:16]) == b"IHDR":
        width, height = struct.unpack_from(">II", view, 16)
        return height, width
    if bytes(view[:2]) == b"\xff\xd8":
        return _jpeg_size(view)
    raise ImageConversionError(
        f"neither a PNG nor a JPEG ({len(view)} bytes starting {bytes(view[:4]).hex()}); "
        "the node decodes jpeg and png only"
    )


def _jpeg_size(view: memoryview) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(view):
        if view[pos] != 0xFF:
            break
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", view, pos + 2)
        if marker in _JPEG_FRAME_MARKERS and pos + 9 <= len(view):
            height, width = struct.unpack_from(">HH", view, pos + 5)
            return height, width
        pos += 2 + length
    raise ImageConversionError(f"corrupt JPEG: no frame header in its {len(view)} bytes")


def image_from_compressed_msg(msg: Any, max_pixels: int = 0) -> DecodedImage:
    """Decode a ``sensor_msgs/CompressedImage`` (jpeg or png) to bgr8 or mono8.

    ``max_pixels`` > 0: a frame whose header gives more pixels raises
    :class:`ImageTooLargeError` before anything is decoded.
    """
    fmt = msg.format.lower()
    if fmt and not any(k in fmt for k in ("jpeg", "jpg", "png")):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r} (jpeg, png)")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageConversionError("empty compressed image")
    height, width = compressed_image_size(buffer)
    if max_pixels > 0 and height * width > max_pixels:
        raise ImageTooLargeError(
            f"compressed frame of {buffer.size} bytes decodes to {width}x{height} = "
            f"{height * width / 1e6:.1f} MP, over the limit of {max_pixels / 1e6:.1f} MP "
            "(parameter max_decoded_megapixels)"
        )
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint8:
        raise ImageConversionError(
            f"corrupt or unsupported compressed image ({buffer.size} bytes, format {msg.format!r})"
        )
    if decoded.ndim == 2:
        return DecodedImage(decoded[:, :, None], "mono8")
    encoding = {3: "bgr8", 4: "bgra8"}[decoded.shape[2]]
    return DecodedImage(decoded, encoding)


def message_array(shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed uint8 array kept in an ``array.array``.

    :func:`fill_image_msg` hands such an array to the message as it is, with
    no copy; a pipeline that writes its outputs into these saves one copy of
    every image it publishes.
    """
    buffer = array.array("B", bytes(int(np.prod(shape))))
    return np.frombuffer(buffer, dtype=np.uint8).reshape(shape)


def _backing_buffer(pixels: np.ndarray) -> array.array | None:
    """The ``array.array`` that ``pixels`` exactly covers (see :func:`message_array`), if any."""
    base: Any = pixels
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    if (
        isinstance(base, array.array)
        and base.typecode == "B"
        and pixels.flags.c_contiguous
        and pixels.nbytes == len(base)
        and pixels.ctypes.data == base.buffer_info()[0]
    ):
        return base
    return None


def fill_image_msg(msg: Any, pixels: np.ndarray, encoding: str, header: Any) -> Any:
    """Fill a ``sensor_msgs/Image`` from a ``[H, W]`` or ``[H, W, C]`` uint8 array.

    An array from :func:`message_array` becomes the message's data without a
    copy (the message then shares its memory: publish it before the array is
    written again); any other array is copied once.
    """
    pixels = np.ascontiguousarray(pixels)
    msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(pixels.strides[0])
    data = _backing_buffer(pixels)
    if data is None:
        data = array.array("B")
        data.frombytes(pixels.data)  # one memcpy; assigning an ndarray would go element-wise
    _set_data(msg, data)
    return msg


def fill_jpeg_msg(msg: Any, pixels: np.ndarray, encoding: str, header: Any,
                  quality: int) -> Any:
    """Fill a ``sensor_msgs/CompressedImage`` with ``pixels`` (rgb8, bgr8 or mono8) as JPEG,
    as image_transport's compressed plugin does (format ``rgb8; jpeg compressed bgr8``)."""
    if encoding not in ("rgb8", "bgr8", "mono8"):
        raise ImageConversionError(f"cannot JPEG-encode {encoding} (rgb8, bgr8, mono8)")
    target = "mono8" if encoding == "mono8" else "bgr8"
    if encoding == "rgb8":  # a contiguous copy: imencode of a reversed view is 2x slower
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageConversionError(f"JPEG encoding of a {pixels.shape} {encoding} image failed")
    msg.header = header
    msg.format = f"{encoding}; jpeg compressed {target}"
    data = array.array("B")
    data.frombytes(encoded.data)
    _set_data(msg, data)
    return msg


def _set_data(msg: Any, data: array.array) -> None:
    """``msg.data = data`` without a copy.

    rosidl's setter keeps an ``array.array`` as it is only while the message
    checks its fields; since Jazzy that is off by default (``ROS_PYTHON_CHECK_FIELDS``)
    and the setter copies the array. Humble's messages have no such switch and keep it.
    """
    checking = getattr(msg, "_check_fields", True)
    if not checking:
        msg._check_fields = True
    try:
        msg.data = data
    finally:
        if not checking:
            msg._check_fields = False
