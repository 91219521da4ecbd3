"""A camera stand-in: publishes bgr8 ``sensor_msgs/Image`` frames at a fixed rate.

Runs as its own process (as a camera driver would), so its serialisation
cost is not charged to the benchmark's subscriber. Stamps each frame with
the publish time; stops after ``--duration`` seconds.

    python bench/camera_publisher.py --rate 30 --height 1024 --width 2048 --duration 60
"""

from __future__ import annotations

import argparse
import array
import time

import numpy as np

from fanet_ros.ros_env import use_local_ros_domain

FRAMES = 8
"""Distinct frames cycled through (content does not matter for timing)."""


def make_frames(height: int, width: int, count: int = FRAMES) -> list[array.array]:
    """``count`` different bgr8 frames: gradients plus noise, as message buffers."""
    rng = np.random.default_rng(0)
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    frames = []
    for i in range(count):
        base = np.stack([rows + 0 * cols, cols + 0 * rows, (rows + cols + 40 * i) % 256], axis=-1)
        noise = rng.normal(0, 12, size=(height, width, 1)).astype(np.float32)
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        buffer = array.array("B")
        buffer.frombytes(pixels.tobytes())
        frames.append(buffer)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True, help="frames per second")
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--duration", type=float, required=True, help="seconds to publish")
    parser.add_argument("--topic", default="image")
    parser.add_argument("--reliability", choices=("reliable", "best_effort"), default="reliable",
                        help="best_effort loses most 2 MP frames to UDP fragmentation")
    args = parser.parse_args()

    use_local_ros_domain()
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_camera")
    reliability = {"reliable": ReliabilityPolicy.RELIABLE,
                   "best_effort": ReliabilityPolicy.BEST_EFFORT}[args.reliability]
    publisher = node.create_publisher(
        Image, args.topic, QoSProfile(depth=5, reliability=reliability)
    )
    frames = make_frames(args.height, args.width)
    msg = Image(height=args.height, width=args.width, encoding="bgr8", step=3 * args.width)
    msg.header.frame_id = "camera"
    period = 1.0 / args.rate
    start = due = time.monotonic()
    sent = 0
    try:
        while (now := time.monotonic()) - start < args.duration:
            if now < due:
                time.sleep(due - now)
            due = max(due + period, time.monotonic() - period)  # late: no catch-up burst
            msg.data = frames[sent % len(frames)]
            msg.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(msg)
            sent += 1
    except KeyboardInterrupt:
        pass
    finally:
        print(f"published {sent} frames in {time.monotonic() - start:.1f} s", flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
