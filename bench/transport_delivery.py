"""How many camera frames cross between two processes, per QoS and Fast DDS profile.

A camera process publishes bgr8 frames (once it has matched the subscriber, so
discovery costs nothing); a plain subscriber in another process counts what
arrives. Each row changes one thing:
the camera's reliability, the subscription's, and which side runs
config/fastdds_large_images.xml. It decides what segmentation_node and its
launch file should default to (docs/node.md, "Large camera images and Fast DDS", where the
renderer puts its table).

    python -m bench.transport_delivery                   # 480x640 and 1024x2048, 20 frames
    python -m bench.transport_delivery --sizes 480x640 --frames 10
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

from bench.camera_publisher import make_frames
from bench.common import (
    REPO,
    RESULTS_DIR,
    format_size,
    module_command,
    parse_size,
    subprocess_module,
    write_and_show,
)
from bench.render_performance import transport_delivery as render
from fanet_ros.launching.launch_arguments import DDS_PROFILE_VARIABLES, profile_variables
from fanet_ros.tooling.ros_env import use_local_ros_domain

MODULE = "bench.transport_delivery"
PROFILE = REPO / "config" / "fastdds_large_images.xml"
UNITS = {"rate_hz": "frames per second", "frames, received": "frames",
         "bytes": "bytes per frame", "camera": "pixels, height x width"}
CASES = (
    # (camera QoS, subscription QoS, profile for the camera, profile for the subscriber, what)
    ("reliable", "best_effort", False, False, "reliable camera, best-effort subscription"),
    ("reliable", "reliable", False, False, "reliable camera, reliable subscription"),
    ("best_effort", "best_effort", False, False, "best-effort camera, no profile"),
    ("best_effort", "best_effort", False, True, "best-effort camera, profile on the subscriber"),
    ("best_effort", "best_effort", True, False, "best-effort camera, profile on the camera"),
    ("best_effort", "best_effort", True, True, "best-effort camera, profile on both"),
)


def count_frames(topic: str, reliability: str) -> None:
    """Subscriber process: count frames until SIGINT, then print the count."""
    use_local_ros_domain()
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from fanet_ros.node.callback_guard import CallbackFailures, GuardedExecutor

    rclpy.init()
    node = rclpy.create_node("bench_frame_counter")
    received = [0]
    policy = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
    node.create_subscription(Image, topic, lambda _: received.__setitem__(0, received[0] + 1),
                             QoSProfile(depth=5, reliability=policy[reliability]), raw=True)
    print("subscribed", flush=True)
    # not rclpy.spin: a node without a timer may miss SIGINT's wake-up (SHUTDOWN_CHECK_S)
    executor = GuardedExecutor(CallbackFailures(node.get_logger().error))
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    print(received[0], flush=True)


def publish_frames(topic: str, reliability: str, height: int, width: int, frames: int,
                   rate: float) -> None:
    """Camera process: wait for the subscriber, publish ``frames`` frames at ``rate``."""
    use_local_ros_domain()
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_camera")
    policy = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
    publisher = node.create_publisher(Image, topic, QoSProfile(depth=5,
                                                               reliability=policy[reliability]))
    deadline = time.monotonic() + 20.0
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the subscriber's side of the match
    msg = Image(height=height, width=width, encoding="bgr8", step=3 * width)
    buffers = make_frames(height, width, 2)
    for i in range(frames):
        msg.data = buffers[i % 2]
        publisher.publish(msg)
        time.sleep(1.0 / rate)
    time.sleep(1.0)  # let a reliable writer finish
    node.destroy_node()
    rclpy.try_shutdown()


def environment(profile: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in DDS_PROFILE_VARIABLES and k != "ROS_LOCALHOST_ONLY"}
    if profile:  # the profile adds UDP, which ROS_LOCALHOST_ONLY cannot restrict
        env.update(dict.fromkeys(profile_variables(os.environ), str(PROFILE)))
    return env


def run_case(size: tuple[int, int], frames: int, rate: float, case: tuple) -> int:
    """Frames received of ``frames`` sent, for one case."""
    camera_qos, sub_qos, camera_profile, sub_profile, _ = case
    topic = "/bench/transport_delivery"
    counter = subprocess.Popen(
        subprocess_module(MODULE, "--count", topic, sub_qos), env=environment(sub_profile),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )
    assert counter.stdout.readline().strip() == "subscribed"
    subprocess.run(
        subprocess_module(MODULE, "--publish", topic, camera_qos, str(size[0]), str(size[1]),
                          str(frames), str(rate)),
        env=environment(camera_profile), check=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=REPO,
    )
    time.sleep(1.0)
    counter.send_signal(signal.SIGINT)
    return int(counter.communicate(timeout=30)[0].split()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        default=[(480, 640), (1024, 2048)], help="HxW camera sizes")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--count", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--publish", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count:
        count_frames(*args.count)
        return
    if args.publish:
        topic, reliability, *numbers = args.publish
        height, width, frames = (int(v) for v in numbers[:3])
        publish_frames(topic, reliability, height, width, frames, float(numbers[3]))
        return
    use_local_ros_domain()  # one domain for this run's processes
    rows = []
    for size in args.sizes:
        for case in CASES:
            received = run_case(size, args.frames, args.rate, case)
            camera_qos, sub_qos, camera_profile, sub_profile, what = case
            rows.append({"camera": format_size(size), "bytes": 3 * size[0] * size[1],
                         "case": what, "camera_reliability": camera_qos,
                         "subscription_reliability": sub_qos,
                         "profile_on_camera": camera_profile,
                         "profile_on_subscriber": sub_profile, "received": received})
            print(f"{format_size(size)}: {what}: {received} of {args.frames}", flush=True)
    data = {"benchmark": "transport_delivery", "command": module_command(MODULE, argv),
            "frames": args.frames, "rate_hz": args.rate,
            "rmw": os.environ.get("RMW_IMPLEMENTATION", "default (Fast DDS)"), "rows": rows}
    write_and_show("transport_delivery", data, args.results_dir, UNITS, render)

if __name__ == "__main__":
    main()
