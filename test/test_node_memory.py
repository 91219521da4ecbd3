"""After huge frames the node gives their memory back once frames are small again.

Real DDS between processes: this process is the camera (reliable, rgb8) and subscribes
to all four outputs; the node runs with the shipped large-images profile
(``RMW_FASTRTPS_USE_QOS_FROM_XML=1``: DYNAMIC history memory). With rmw_fastrtps's
own PREALLOCATED_WITH_REALLOC histories the node kept +334 MiB here (DDS sample buffers
sized to the 4096x4096 frames, never shrunk); see docs/node.md.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import SpinningNode, start_node_process, stop_process, wait_for
from sensor_msgs.msg import Image

from fanet_ros.image_conversion import fill_image_msg, image_from_serialized
from fanet_ros.launching.launch_arguments import QOS_FROM_XML, profile_variables
from fanet_ros.tooling.process_memory import MIB, rss_bytes

PROFILE = Path(__file__).resolve().parent.parent / "config" / "fastdds_large_images.xml"
OUTPUTS = ("label", "color", "overlay", "confidence")
SMALL, LARGE = (480, 640), (4096, 4096)
"""A 4096x4096 rgb8 frame is 48 MiB in and 128 MiB out (four outputs)."""
RETURNED_WITHIN_MIB = 150
"""RSS over its start once small frames flow again (measured +45 to +95 MiB here)."""
GREW_AT_LEAST_MIB = 100
"""The large frames must have grown the node (else the test would prove nothing)."""
TIMEOUT = 60.0
RELIABLE = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


class OutputStamps:
    """The header seconds each output has delivered (raw: only the header is read)."""

    def __init__(self, node, namespace: str) -> None:
        self.seen: dict[str, set[int]] = {name: set() for name in OUTPUTS}
        self.changed = threading.Condition()
        self.subscriptions = [
            node.create_subscription(Image, f"{namespace}/segmentation_node/{name}",
                                     self._record(name), RELIABLE, raw=True)
            for name in OUTPUTS
        ]

    def _record(self, name: str):
        def record(serialized: bytes) -> None:
            with self.changed:
                self.seen[name].add(image_from_serialized(serialized).stamp_sec)
                self.changed.notify_all()

        return record

    def wait(self, stamp: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: all(stamp in seen for seen in self.seen.values()), timeout)


def send_frames(camera, outputs: OutputStamps, size: tuple[int, int], stamps: range) -> None:
    """Publish one rgb8 frame per stamp, each once the previous came out of every output."""
    pixels = np.random.default_rng(size[0]).integers(0, 256, (*size, 3), dtype=np.uint8)
    for stamp in stamps:
        msg = Image()
        msg.header.stamp.sec = stamp
        fill_image_msg(msg, pixels, "rgb8", msg.header)
        camera.publish(msg)
        # the node may not have matched us reliable yet: publish again until it comes out
        assert wait_for(lambda m=msg, s=stamp: outputs.wait(s, 3.0) or camera.publish(m),
                        TIMEOUT, interval=0.0), f"frame {stamp} of {size} never came out"


@pytest.mark.slow
def test_rss_returns_near_its_start_after_4096x4096_frames(tmp_path, tiny_model):
    env = {**dict.fromkeys(profile_variables(os.environ), str(PROFILE)), QOS_FROM_XML: "1"}
    log = tmp_path / "node.log"
    proc = start_node_process({"model_path": str(tiny_model)}, remaps={"image": "/m/image"},
                              namespace="/m", log_path=log, env=env)
    rclpy.init()
    try:
        with SpinningNode() as spinner:
            outputs = OutputStamps(spinner.node, "/m")
            camera = spinner.node.create_publisher(Image, "/m/image", RELIABLE)
            send_frames(camera, outputs, SMALL, range(1, 6))
            start = rss_bytes(proc.pid) / MIB
            send_frames(camera, outputs, LARGE, range(6, 9))
            large = rss_bytes(proc.pid) / MIB
            send_frames(camera, outputs, SMALL, range(9, 14))
            returned = wait_for(
                lambda: rss_bytes(proc.pid) / MIB - start <= RETURNED_WITHIN_MIB, 5.0)
            after = rss_bytes(proc.pid) / MIB
    finally:
        code = stop_process(proc)
        rclpy.try_shutdown()
    print(f"node RSS MiB: start {start:.0f}, after 3 x 4096x4096 {large:.0f}, "
          f"small frames again {after:.0f} ({after - start:+.0f})")
    assert code == 0, log.read_text()[-2000:]
    assert large - start >= GREW_AT_LEAST_MIB, (start, large)
    assert returned, f"RSS stayed {after - start:+.0f} MiB over its start {start:.0f} MiB"
