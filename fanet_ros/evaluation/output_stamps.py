"""Which frames came out of a running segmentation_node: the header stamps (whole seconds)
each image output delivered, read from raw messages (only the header is decoded).

A camera that publishes frame ``n`` with stamp ``n`` waits for it on every output before the
next (``bench/memory_after_large_frames.py``, ``test/test_node_memory.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fanet_ros.node.topics import IMAGE_OUTPUTS


class OutputStamps:
    """Subscribes (reliable, depth 1) to ``outputs`` of the node in ``namespace``."""

    def __init__(self, node: Any, namespace: str, outputs: tuple[str, ...] = IMAGE_OUTPUTS,
                 node_name: str = "segmentation_node") -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.names = tuple(outputs)
        self.seen: dict[str, set[int]] = {name: set() for name in self.names}
        self.changed = threading.Condition()
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.subscriptions = [
            node.create_subscription(Image, f"{namespace}/{node_name}/{name}",
                                     self._record(name), qos, raw=True)
            for name in self.names
        ]

    def _record(self, name: str) -> Callable[[bytes], None]:
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image

        from fanet_ros.image_conversion import image_from_serialized

        def record(serialized: bytes) -> None:
            fast = image_from_serialized(serialized)  # None: a CDR layout it does not read
            stamp = fast.stamp_sec if fast is not None else deserialize_message(
                serialized, Image).header.stamp.sec
            with self.changed:
                self.seen[name].add(stamp)
                self.changed.notify_all()

        return record

    def wait(self, stamp: int, timeout: float) -> bool:
        """Whether every output delivered ``stamp`` within ``timeout`` s."""
        with self.changed:
            return self.changed.wait_for(
                lambda: all(stamp in seen for seen in self.seen.values()), timeout)
