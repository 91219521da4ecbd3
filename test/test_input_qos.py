"""The image subscription's reliability: follows the publishers (rosbag2's rule) unless a
parameter fixes it; contradictory settings stop start-up."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import wait_for
from sensor_msgs.msg import Image

from fanet_ros.node.input_qos import reliability_for
from fanet_ros.node.segmentation_node import SegmentationNode, StartupError

RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT


def test_reliable_only_when_every_publisher_is():
    assert reliability_for([RELIABLE, RELIABLE]) == RELIABLE
    assert reliability_for([RELIABLE, BEST_EFFORT]) == BEST_EFFORT
    assert reliability_for([]) is None  # nobody there: keep what it has


def _node(context, tiny_model, *params: str) -> SegmentationNode:
    args = ["--ros-args", "-p", f"model_path:={tiny_model}", "-r", "image:=/q/image"]
    for param in params:
        args += ["-p", param]
    return SegmentationNode(context=context, cli_args=args)


def _camera(context, reliability: ReliabilityPolicy):
    camera = rclpy.create_node("q_camera", context=context)
    camera.create_publisher(Image, "/q/image", QoSProfile(depth=5, reliability=reliability))
    return camera


def _settles(node: SegmentationNode, policy: ReliabilityPolicy, publishers: int) -> bool:
    def check() -> bool:
        node.image_sub.refresh()
        sub = node.image_sub
        return sub.reliability == policy and sub.publishers == publishers
    return wait_for(check, 5.0, interval=0.1)


def test_every_timer_the_node_makes_is_one_the_executor_sees(own_ros_context, tiny_model):
    """The quick re-check after a publisher matched is a timer: one the node's attributes
    hid from the executor (a reliable camera's first second of frames was then lost)."""
    node = _node(own_ros_context, tiny_model)
    try:
        timers = set(node.timers)
        assert node.image_sub._quick in timers
        assert node._diagnostics_timer in timers and len(timers) == 3  # + the QoS refresh
    finally:
        node.destroy_node()


def test_the_subscription_follows_publishers_that_come_and_go(own_ros_context, tiny_model):
    node = _node(own_ros_context, tiny_model)
    try:
        assert node.image_sub.reliability == BEST_EFFORT  # nobody yet: matches any camera
        camera = _camera(own_ros_context, RELIABLE)
        assert _settles(node, RELIABLE, 1)
        assert node.image_sub.subscription.qos_profile.reliability == RELIABLE
        other = _camera(own_ros_context, BEST_EFFORT)
        assert _settles(node, BEST_EFFORT, 2)
        assert node.image_sub.best_effort_publishers == 1
        other.destroy_node()
        assert _settles(node, RELIABLE, 1)
        camera.destroy_node()
        assert _settles(node, RELIABLE, 0)  # kept until another publisher shows up
    finally:
        node.destroy_node()


@pytest.mark.parametrize(
    "param",
    ["input_reliability:=best_effort",
     "qos_overrides./q/image.subscription.reliability:=best_effort"],
)
def test_a_parameter_fixes_the_reliability(own_ros_context, tiny_model, param):
    node = _node(own_ros_context, tiny_model, param)
    camera = _camera(own_ros_context, RELIABLE)
    try:
        assert _settles(node, BEST_EFFORT, 1)
    finally:
        camera.destroy_node()
        node.destroy_node()


def test_contradicting_reliability_parameters_stop_start_up(own_ros_context, tiny_model):
    with pytest.raises(StartupError, match="input_reliability:=reliable contradicts .*set only"):
        _node(own_ros_context, tiny_model, "input_reliability:=reliable",
              "qos_overrides./q/image.subscription.reliability:=best_effort")
    with pytest.raises(StartupError, match="must be reliable, best_effort or system_default"):
        _node(own_ros_context, tiny_model, "qos_overrides./q/image.subscription.reliability:=fast")


def test_standard_qos_overrides_reach_camera_info_and_the_outputs(own_ros_context, tiny_model):
    node = _node(own_ros_context, tiny_model,
                 "qos_overrides./q/camera_info.subscription.reliability:=reliable",
                 "qos_overrides./segmentation_node/label.publisher.reliability:=best_effort")
    try:
        (info,) = node.get_subscriptions_info_by_topic("/q/camera_info")
        assert info.qos_profile.reliability == RELIABLE  # sensor data (best effort) otherwise
        (label,) = node.get_publishers_info_by_topic("/segmentation_node/label")
        assert label.qos_profile.reliability == BEST_EFFORT
        # each override stays with its topic: rclpy writes it into the profile it is given
        (color,) = node.get_publishers_info_by_topic("/segmentation_node/color")
        assert color.qos_profile.reliability == RELIABLE
        assert qos_profile_sensor_data.reliability == BEST_EFFORT
    finally:
        node.destroy_node()
