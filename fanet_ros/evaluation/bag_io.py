"""rosbag2 reading and writing shared by make_bag and bag_eval (sqlite3 and mcap).

Uses the pure-Python ``rosbags`` package, so no rosbag2_py is needed. Every
problem with a bag raises :class:`BagError` with a message that names the bag,
the topic and, where it matters, the stamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin
from rosbags.typesys import Stores, get_typestore

from fanet_ros.image_conversion import (
    DecodedImage,
    ImageConversionError,
    class_ids_from_msg,
    image_from_compressed_msg,
    image_from_msg,
)

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
TYPESTORE = get_typestore(Stores.LATEST)
"""Message definitions; Image and CameraInfo are identical in every ROS 2 distribution."""


@dataclass(frozen=True)
class BagTopics:
    """Topic names in a bag written by make_bag (and read by bag_eval)."""

    image: str = "/camera/image_raw"
    camera_info: str = "/camera/camera_info"
    ground_truth: str = "/camera/ground_truth"


class BagError(RuntimeError):
    """A bag that is missing, unreadable, lacks a topic or holds inconsistent frames."""


Stamp = tuple[int, int]
"""A header stamp as ``(sec, nanosec)``: exact, hashable, used to match frames."""


def stamp_of(msg: Any) -> Stamp:
    return int(msg.header.stamp.sec), int(msg.header.stamp.nanosec)


def stamp_from_ns(ns: int) -> Stamp:
    return ns // 1_000_000_000, ns % 1_000_000_000


def stamp_to_ns(stamp: Stamp) -> int:
    return stamp[0] * 1_000_000_000 + stamp[1]


def format_stamp(stamp: Stamp) -> str:
    return f"{stamp[0]}.{stamp[1]:09d}"


def make_header(stamp_ns: int, frame_id: str) -> Any:
    """A rosbags ``std_msgs/Header``."""
    types = TYPESTORE.types
    stamp = types["builtin_interfaces/msg/Time"](*stamp_from_ns(stamp_ns))
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def serialize_image(pixels: np.ndarray, encoding: str, header: Any) -> memoryview:
    """CDR bytes of a ``sensor_msgs/Image`` holding ``[H, W]`` or ``[H, W, C]`` uint8 pixels."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    msg = TYPESTORE.types[IMAGE_TYPE](
        header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
        step=int(pixels.strides[0]), data=pixels.reshape(-1),
    )
    return TYPESTORE.serialize_cdr(msg, IMAGE_TYPE)


@dataclass(frozen=True)
class BagImage:
    """One image message read from a bag."""

    stamp: Stamp
    """Header stamp."""
    log_time_ns: int
    """When it was recorded (what ``ros2 bag play`` paces by)."""
    pixels: np.ndarray
    """``[H, W, C]`` uint8."""
    encoding: str
    frame_id: str


class BagReader:
    """Reads image topics of one bag; a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise BagError(f"bag '{self.path}' does not exist")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # rosbags, sqlite3 and mcap raise many types
            raise BagError(
                f"bag '{self.path}' cannot be read ({type(exc).__name__}: {exc}); it may be "
                "corrupt, truncated or still being recorded"
            ) from None
        self.topics: dict[str, str] = {c.topic: c.msgtype for c in self._reader.connections}

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def has_topic(self, topic: str) -> bool:
        return topic in self.topics

    def require_image_topic(self, topic: str, role: str, compressed: bool = False) -> None:
        """Raise :class:`BagError` unless ``topic`` exists and holds sensor_msgs/Image (or,
        with ``compressed``, sensor_msgs/CompressedImage)."""
        if topic not in self.topics:
            listed = ", ".join(f"{t} ({m})" for t, m in sorted(self.topics.items())) or "none"
            raise BagError(
                f"bag '{self.path}' has no {role} topic '{topic}'; its topics: {listed}"
            )
        allowed = (IMAGE_TYPE, COMPRESSED_TYPE) if compressed else (IMAGE_TYPE,)
        if self.topics[topic] not in allowed:
            raise BagError(
                f"topic '{topic}' in bag '{self.path}' holds {self.topics[topic]}, "
                f"not {' or '.join(allowed)}"
            )

    def is_compressed(self, topic: str) -> bool:
        return self.topics.get(topic) == COMPRESSED_TYPE

    def count(self, topic: str) -> int:
        return sum(c.msgcount for c in self._reader.connections if c.topic == topic)

    def images(self, topic: str, class_ids: bool = False) -> Iterator[BagImage]:
        """The images of ``topic`` in recording order (a CompressedImage topic's decoded);
        ``class_ids``: label images (mono8 or 8UC1), read as mono8."""
        for log_time, _, msg in self._messages(topic):
            try:
                if class_ids:
                    image = DecodedImage(class_ids_from_msg(msg)[:, :, None], "mono8")
                elif self.is_compressed(topic):  # decoded (bgr8 or mono8)
                    image = image_from_compressed_msg(msg)
                else:
                    image = image_from_msg(msg)
            except ImageConversionError as exc:
                raise BagError(
                    f"bag '{self.path}', topic '{topic}', stamp "
                    f"{format_stamp(stamp_of(msg))}: {exc}"
                ) from None
            yield BagImage(
                stamp_of(msg), log_time, image.pixels, image.encoding, msg.header.frame_id
            )

    def stamps(self, topic: str) -> Iterator[Stamp]:
        """The header stamps of ``topic``'s messages in recording order, nothing decoded."""
        for _, _, msg in self._messages(topic):
            yield stamp_of(msg)

    def serialized_by_stamp(self, topic: str) -> dict[Stamp, bytes]:
        """The CDR bytes of each message on ``topic`` (a type with a header) by header stamp."""
        return {stamp_of(msg): bytes(raw) for _, raw, msg in self._messages(topic)}

    def _messages(self, topic: str) -> Iterator[tuple[int, bytes, Any]]:
        """(log time, CDR bytes, message) of ``topic`` in recording order."""
        connections = [c for c in self._reader.connections if c.topic == topic]
        if not connections:
            return
        try:
            for connection, log_time, raw in self._reader.messages(connections=connections):
                msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
                yield log_time, raw, msg
        except Exception as exc:  # rosbags, sqlite3 and mcap raise many types
            raise BagError(
                f"bag '{self.path}' is corrupt: reading topic '{topic}' failed "
                f"({type(exc).__name__}: {exc})"
            ) from None
