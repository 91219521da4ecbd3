"""A camera stand-in: publishes bgr8 ``sensor_msgs/Image`` frames at a fixed rate.

Runs as its own process (as a camera driver would), so its serialisation
cost is not charged to the benchmark's subscriber. Stamps each frame with
the publish time; stops after ``--duration`` seconds.

    python -m bench.camera_publisher --rate 30 --height 1024 --width 2048 --duration 60
"""

from __future__ import annotations

import argparse
import array
import time

import cv2

from fanet_ros.synthetic import generate_drive
from fanet_ros.tooling.ros_env import use_local_ros_domain

FRAMES = 8
"""Distinct frames cycled through."""


def make_frames(height: int, width: int, count: int = FRAMES) -> list[array.array]:
    """``count`` frames of one synthetic drive (fanet_ros.synthetic), rendered at 360x480 and
    resized to ``height`` x ``width``, bgr8, as message buffers: street scenes, so a trained
    model finds class boundaries where a real camera's frames have them (the node's label
    refinement costs in proportion to them)."""
    frames = []
    for rgb, _ in generate_drive(0, count, height=360, width=480):
        pixels = cv2.cvtColor(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR),
                              cv2.COLOR_RGB2BGR)
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
