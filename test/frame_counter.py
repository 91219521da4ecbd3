"""Count the sensor_msgs/Image frames that reach a plain subscriber: TOPIC SECONDS RELIABILITY.

Prints ``subscribed`` once the subscription exists, then, when SECONDS have passed or its
stdin closes (whichever comes first), the count of frames under 512 KiB serialized and the
count of larger ones.
"""

from __future__ import annotations

import sys
import threading
import time

from fanet_ros.tooling.ros_env import use_local_ros_domain

use_local_ros_domain()

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402


def main() -> None:
    topic, seconds, reliability = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    rclpy.init()
    node = rclpy.create_node("frame_counter")
    counts = [0, 0]

    def on_frame(serialized: bytes) -> None:
        counts[len(serialized) >= 512 * 1024] += 1

    policy = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
    node.create_subscription(Image, topic, on_frame,
                             QoSProfile(depth=5, reliability=policy[reliability]), raw=True)
    print("subscribed", flush=True)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not closed.is_set():
        rclpy.spin_once(node, timeout_sec=0.05)
    print(*counts, flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
