"""One segmentation_node serving two cameras, through real DDS and real ONNX Runtime.

The node runs the shipped synthetic model (its batch dimension is dynamic, so frames of both
cameras that wait together run as one batch) with ``cameras:=[front, rear]``; this process
plays the two cameras and listens to each camera's outputs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import DiagnosticsProbe, SpinningNode, running_node, wait_for
from sensor_msgs.msg import CameraInfo, Image
from test_node import camera_image, image_msg

from fanet_ros.image_conversion import image_from_msg
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.shipped_models import resolve_model

NS = "/cams"
CAMERAS = {"front": f"{NS}/front_camera/image_raw", "rear": f"{NS}/rear_camera/image_raw"}
NODE = f"{NS}/segmentation_node"
TIMEOUT = 30.0
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
MODEL = "fanet_synthetic"


@pytest.fixture(scope="module")
def two_camera_node(ros_context, tmp_path_factory) -> Iterator[Path]:
    """The node's log file."""
    log = tmp_path_factory.mktemp("cameras") / "node.log"
    with running_node(
        {"model_path": str(resolve_model(MODEL)), "cameras": "[front, rear]",
         "diagnostics_period": 0.2, "input_timeout": 1.0, "num_threads": 1},
        log, remaps={f"{camera}/image": topic for camera, topic in CAMERAS.items()}, namespace=NS,
    ):
        yield log


class Camera:
    """Publishes one camera's frames (and camera_info) and records its node outputs."""

    def __init__(self, spinner: SpinningNode, name: str) -> None:
        node = spinner.node
        self.name = name
        self.image_pub = node.create_publisher(Image, CAMERAS[name], RELIABLE)
        info_topic = CAMERAS[name].rsplit("/", 1)[0] + "/camera_info"
        self.info_pub = node.create_publisher(CameraInfo, info_topic, RELIABLE)
        self.received: dict[str, list] = {"label": [], "camera_info": []}
        self._lock = threading.Lock()
        node.create_subscription(Image, f"{NODE}/{name}/label",
                                 lambda m: self._keep("label", m), RELIABLE)
        node.create_subscription(CameraInfo, f"{NODE}/{name}/camera_info",
                                 lambda m: self._keep("camera_info", m), RELIABLE)

    def _keep(self, kind: str, msg: object) -> None:
        with self._lock:
            self.received[kind].append(msg)

    def warm_up(self) -> None:
        """Send frames until one comes back (both sides matched, the node's input settled),
        then forget what came back."""
        for k in range(int(TIMEOUT / 0.5)):
            self.send(500_000_000 + k, seed=0)
            if wait_for(lambda: bool(self.outputs()), 0.5):
                break
        assert self.outputs(), f"no output of the {self.name} camera's warm-up frames"
        time.sleep(0.5)  # a warm-up frame still in flight comes back now, not later
        with self._lock:
            for kind in self.received:
                self.received[kind].clear()

    def outputs(self, kind: str = "label") -> list:
        with self._lock:
            return list(self.received[kind])

    def stamps(self, kind: str = "label") -> set[int]:
        return {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in self.outputs(kind)}

    def send(self, stamp_ns: int, seed: int) -> Image:
        msg = image_msg(camera_image(seed), "rgb8", stamp_ns, frame_id=f"{self.name}_optical")
        info = CameraInfo(header=msg.header, width=msg.width, height=msg.height)
        info.k = [100.0, 0.0, msg.width / 2, 0.0, 100.0, msg.height / 2, 0.0, 0.0, 1.0]
        info.p = [100.0, 0.0, msg.width / 2, 0.0, 0.0, 100.0, msg.height / 2, 0.0,
                  0.0, 0.0, 1.0, 0.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        self.info_pub.publish(info)
        self.image_pub.publish(msg)
        return msg


def connected(*cameras: Camera) -> bool:
    return all(c.image_pub.get_subscription_count() > 0 and c.info_pub.get_subscription_count()
               > 0 for c in cameras)


def test_each_cameras_frames_reach_its_own_outputs(two_camera_node):
    reference = SegmentationPipeline(OnnxRuntimeBackend(resolve_model(MODEL)))
    with SpinningNode("two_cameras") as spinner:
        front, rear = Camera(spinner, "front"), Camera(spinner, "rear")
        probe = {name: DiagnosticsProbe(spinner.node, f"{NODE}/{name}: segmentation")
                 for name in CAMERAS}
        assert wait_for(lambda: connected(front, rear), TIMEOUT)
        front.warm_up()  # the node sees our output subscriptions too
        rear.warm_up()
        sent = {}
        for i in range(3):  # both cameras at once, so that their frames run as one batch
            sent[front.name, i] = front.send(1_000_000_000 + i, seed=10 + i)
            sent[rear.name, i] = rear.send(2_000_000_000 + i, seed=20 + i)
            assert wait_for(lambda i=i: len(front.outputs()) > i and len(rear.outputs()) > i,
                            TIMEOUT)
        for camera in (front, rear):
            mine = {msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                    for (name, _), msg in sent.items() if name == camera.name}
            assert camera.stamps() == mine  # every frame, none of the other camera's
            for out in camera.outputs():
                assert out.header.frame_id == f"{camera.name}_optical"
                i = out.header.stamp.nanosec
                msg = sent[camera.name, i]
                assert (out.height, out.width) == (msg.height, msg.width)
                expected = reference.process(image_from_msg(msg), want_color=False,
                                             want_overlay=False).labels
                np.testing.assert_array_equal(image_from_msg(out).pixels[:, :, 0], expected)
            assert wait_for(lambda c=camera: c.stamps("camera_info") >= c.stamps(), TIMEOUT)
            for info in camera.outputs("camera_info"):
                assert info.header.frame_id == f"{camera.name}_optical"
            status = probe[camera.name].status_after(
                lambda s: int(s.get("published_label", 0)) >= 3)
            assert status["camera"] == camera.name
            assert status["input_topic"] == CAMERAS[camera.name]
            assert status["frames_failed"] == "0"


def test_a_stopped_camera_leaves_the_other_at_full_rate(two_camera_node):
    rate_hz, seconds = 10.0, 3.0
    with SpinningNode("stopping_camera") as spinner:
        front, rear = Camera(spinner, "front"), Camera(spinner, "rear")
        probe = {name: DiagnosticsProbe(spinner.node, f"{NODE}/{name}: segmentation")
                 for name in CAMERAS}
        assert wait_for(lambda: connected(front, rear), TIMEOUT)
        time.sleep(1.0)

        def play(cameras: tuple[Camera, ...], first_stamp: int) -> set[int]:
            stamps = set()
            for i in range(int(rate_hz * seconds)):
                for k, camera in enumerate(cameras):
                    stamps.add(first_stamp + 1000 * i + k)
                    camera.send(first_stamp + 1000 * i + k, seed=i)
                time.sleep(1.0 / rate_hz)
            return stamps

        both = play((front, rear), 10 * 10**9)
        front_both = {s for s in both if s % 1000 == 0}
        assert wait_for(lambda: len(front.stamps() & front_both) >= 0.9 * len(front_both),
                        TIMEOUT)
        assert wait_for(lambda: len(rear.stamps() & (both - front_both)) >= 0.9 * len(front_both),
                        TIMEOUT)
        # the rear camera stops (its publisher is gone); the front one goes on alone: at the
        # camera's rate, every frame out within a moment of the last one sent
        spinner.node.destroy_publisher(rear.image_pub)
        before_alone = len(probe["front"].seen)
        alone = play((front,), 20 * 10**9)
        front_while_alone = probe["front"].seen[before_alone:]  # before input_timeout passes
        assert wait_for(lambda: len(front.stamps() & alone) >= 0.9 * len(alone), 2.0), (
            f"{len(front.stamps() & alone)} of {len(alone)} front frames came out")
        rear_status = probe["rear"].status_after(lambda s: s["health"] != "ok", TIMEOUT)
        assert rear_status["health"] in ("no_publisher", "input_stopped")
        assert front_while_alone, "no front status while it played alone"
        level, message, _ = front_while_alone[-1]
        assert level == 0, message


def test_each_camera_warns_of_its_own_unreadable_frames(two_camera_node):
    """Warnings are throttled per camera: the front camera's never silence the rear's."""
    with SpinningNode("unreadable_frames") as spinner:
        front, rear = Camera(spinner, "front"), Camera(spinner, "rear")
        assert wait_for(lambda: connected(front, rear), TIMEOUT)
        time.sleep(1.0)
        for camera in (front, rear):  # within one throttle period
            msg = image_msg(camera_image(0), "rgb8", 30 * 10**9, frame_id="x")
            msg.encoding = "not_an_encoding"
            camera.image_pub.publish(msg)
        assert wait_for(lambda: all(f"dropped a frame from {CAMERAS[c]}" in
                                    two_camera_node.read_text() for c in CAMERAS), TIMEOUT), (
            two_camera_node.read_text())


def test_a_camera_of_another_shape_than_the_model_input_is_told_what_to_set(two_camera_node):
    with SpinningNode("wide_camera") as spinner:
        front = Camera(spinner, "front")
        assert wait_for(lambda: connected(front), TIMEOUT)
        time.sleep(1.0)
        wide = np.zeros((90, 160, 3), np.uint8)  # 16:9 on the model's 4:3 input
        front.image_pub.publish(image_msg(wide, "rgb8", 40 * 10**9, frame_id="front_optical"))
        expected = (f"{CAMERAS['front']}: camera frames of 160x90 (WxH, aspect 1.78) are "
                    "stretched to the model input 256x192")
        assert wait_for(lambda: expected in two_camera_node.read_text(), TIMEOUT), (
            two_camera_node.read_text())
        # at width 256 no multiple of 32 is 16:9 (160 is 10 % off, and was advised)
        assert "input_height:=160 input_width:=288" in two_camera_node.read_text()
        probe = DiagnosticsProbe(spinner.node, f"{NODE}/front: segmentation")
        stretched = "160x90 (WxH), stretched to the model input"
        assert probe.status_after(lambda s: s.get("input_shape") == stretched, TIMEOUT)
        # a camera switching between two sizes is warned about each once, not at every switch
        front.send(41 * 10**9, seed=1)
        assert probe.status_after(lambda s: s.get("input_shape") != stretched, TIMEOUT)
        front.image_pub.publish(image_msg(wide, "rgb8", 42 * 10**9, frame_id="front_optical"))
        assert probe.status_after(lambda s: s.get("input_shape") == stretched, TIMEOUT)
        assert two_camera_node.read_text().count(expected) == 1
