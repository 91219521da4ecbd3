"""After huge frames the node gives their memory back once frames are small again.

Real DDS between processes: this process is the camera (reliable, rgb8) and subscribes
to all four outputs; the node runs with the shipped large-images profile
(``RMW_FASTRTPS_USE_QOS_FROM_XML=1``: DYNAMIC history memory). With rmw_fastrtps's
own PREALLOCATED_WITH_REALLOC histories the node kept +334 MiB here (DDS sample buffers
sized to the 4096x4096 frames, never shrunk); see docs/node.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import SpinningNode, running_node, wait_for
from sensor_msgs.msg import Image

from fanet_ros.evaluation.output_stamps import OutputStamps
from fanet_ros.image_conversion import fill_image_msg
from fanet_ros.launching.launch_arguments import QOS_FROM_XML, profile_variables
from fanet_ros.tooling.process_memory import MIB, rss_bytes

PROFILE = Path(__file__).resolve().parent.parent / "config" / "fastdds_large_images.xml"
SMALL, LARGE = (480, 640), (4096, 4096)
"""A 4096x4096 rgb8 frame is 48 MiB in and 128 MiB out (four outputs)."""
RETURNED_WITHIN_MIB = 150
"""RSS over its start once small frames flow again (measured +45 to +95 MiB here)."""
GREW_AT_LEAST_MIB = 100
"""The large frames must have grown the node (else the test would prove nothing)."""
TIMEOUT = 60.0
RELIABLE = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


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
def test_rss_returns_near_its_start_after_4096x4096_frames(ros_context, tmp_path, tiny_model):
    env = {**dict.fromkeys(profile_variables(os.environ), str(PROFILE)), QOS_FROM_XML: "1"}
    with running_node({"model_path": str(tiny_model)}, tmp_path / "node.log",
                      remaps={"image": "/m/image"}, namespace="/m", env=env
                      ) as (proc, _), SpinningNode() as spinner:
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
    print(f"node RSS MiB: start {start:.0f}, after 3 x 4096x4096 {large:.0f}, "
          f"small frames again {after:.0f} ({after - start:+.0f})")
    assert large - start >= GREW_AT_LEAST_MIB, (start, large)
    assert returned, f"RSS stayed {after - start:+.0f} MiB over its start {start:.0f} MiB"
