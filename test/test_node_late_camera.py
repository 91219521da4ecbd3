"""A reliable camera that starts after the node: its frames are not lost to the node's
best-effort start. The node re-checked its publishers once a second, so the first 0.5-0.9 s of
such a camera's large frames went best effort and were lost, with no WARN."""

from __future__ import annotations

import time

from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import DiagnosticsProbe, SpinningNode, running_node, wait_for
from sensor_msgs.msg import Image
from test_node_reliability import camera_frame

TIMEOUT = 20.0
FRAMES, RATE = 20, 10.0
"""640x480 bgr8 frames (921,600 bytes: more than Fast DDS carries best effort by default)."""
ALLOWED_LOSS = 3
"""The old re-check lost 0.5-0.9 s of frames (5-9 at 10 Hz); a loaded machine may take a
moment longer to switch than an idle one."""


def test_a_reliable_camera_starting_late_delivers_its_first_frames(
    ros_context, tmp_path, tiny_model
):
    ns = "/late"
    log = tmp_path / "node.log"
    with running_node({"model_path": str(tiny_model), "diagnostics_period": 0.2}, log,
                      remaps={"image": f"{ns}/camera/image"}, namespace=ns
                      ), SpinningNode() as spinner:
        diag = DiagnosticsProbe(spinner.node, f"{ns}/segmentation_node: segmentation")
        assert diag.status_after(lambda s: s["input_reliability"] == "best_effort",
                                 TIMEOUT), log.read_text()
        camera = spinner.node.create_publisher(
            Image, f"{ns}/camera/image",
            QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
        frames = [camera_frame(480, 640, 1_000_000_000 * (i + 1)) for i in range(FRAMES)]
        # a camera streams as soon as someone listens
        assert wait_for(lambda: camera.get_subscription_count() >= 1, TIMEOUT)
        for frame in frames:
            camera.publish(frame)
            time.sleep(1.0 / RATE)
        status = diag.status_after(lambda s: s["input_reliability"] == "reliable", TIMEOUT)
        assert status, diag.latest
        wait_for(lambda: int(diag.latest["frames_received"]) >= FRAMES - ALLOWED_LOSS, TIMEOUT)
        received = int(diag.latest["frames_received"])
        lost = int(diag.latest["frames_lost_in_transport"])
        print(f"late reliable camera: {received} of {FRAMES} received, {lost} lost")
        assert received >= FRAMES - ALLOWED_LOSS, (received, lost, log.read_text())
