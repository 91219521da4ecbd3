"""~/camera_info through real DDS: the input's camera model beside every output, scaled with it."""

from __future__ import annotations

import time

import pytest
from ros_harness import SpinningNode, camera_node, wait_for
from sensor_msgs.msg import CameraInfo, Image
from test_node import (
    CAMERA_H,
    CAMERA_W,
    TIMEOUT,
    Client,
    camera_image,
    image_msg,
)

MODEL_H, MODEL_W = 64, 96  # the tiny model's exported size


@pytest.fixture(scope="module")
def node_model_size(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/ci",
                           output_resolution="model")


@pytest.fixture(scope="module")
def node_input_size(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/cj")


def camera_info(stamp_ns: int, fx: float) -> CameraInfo:
    info = CameraInfo(height=CAMERA_H, width=CAMERA_W, distortion_model="plumb_bob")
    info.header.frame_id = "cam"
    info.header.stamp.sec, info.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    info.d = [0.1, -0.05, 0.0, 0.0, 0.0]
    info.k = [fx, 0.0, 80.0, 0.0, fx, 60.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, 80.0, -16.0, 0.0, fx, 60.0, -8.0, 0.0, 0.0, 1.0, 0.0]  # Tx and Ty
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    return info


def send_with_info(ns: str, stamp_ns: int) -> tuple[CameraInfo, dict[str, object]]:
    """Publish camera infos for two stamps and the frame of ``stamp_ns``; return what the
    node published as ~/camera_info and ~/label for that frame."""
    with SpinningNode() as spinner:
        client = Client(spinner, ns, ("label",))
        infos: list[CameraInfo] = []
        info_sub = spinner.node.create_subscription(
            CameraInfo, f"{ns}/segmentation_node/camera_info", infos.append, 10)
        info_pub = spinner.node.create_publisher(CameraInfo, f"{ns}/camera/camera_info", 10)
        client.wait_connected()
        assert wait_for(lambda: info_pub.get_subscription_count() > 0, TIMEOUT)
        assert wait_for(lambda: info_sub.get_publisher_count() > 0, TIMEOUT)
        sent = camera_info(stamp_ns, fx=200.0)
        msg = image_msg(camera_image(5), "bgr8", stamp_ns, frame_id="cam_optical")

        def with_stamp(messages: list) -> object | None:
            return next((m for m in messages if m.header.stamp == msg.header.stamp), None)

        def answered() -> tuple[Image, CameraInfo] | None:
            """Infos, then the frame (they travel on different topics), until both come
            out: a frame that overtook its info comes out without one."""
            info_pub.publish(camera_info(stamp_ns + 1, fx=999.0))  # another frame's
            info_pub.publish(sent)
            time.sleep(0.3)
            client.image_pub.publish(msg)
            label = wait_for(lambda: with_stamp(client.received["label"]), 1.0)
            got = label and wait_for(lambda: with_stamp(infos), 1.0)
            return got and (label, got)

        result = wait_for(answered, TIMEOUT, interval=0.0)
        assert result, "no ~/label with a ~/camera_info of the frame's stamp"
        label, got = result
        return sent, {"info": got, "label": label}


def test_camera_info_is_scaled_to_model_size_outputs(node_model_size):
    sent, out = send_with_info("/ci", 7_000_000_000)
    info, label = out["info"], out["label"]
    assert info.header == label.header  # stamp and frame_id of the outputs
    assert (info.height, info.width) == (label.height, label.width) == (MODEL_H, MODEL_W)
    sx, sy = MODEL_W / CAMERA_W, MODEL_H / CAMERA_H
    assert list(info.k) == pytest.approx([200 * sx, 0, 80 * sx, 0, 200 * sy, 60 * sy, 0, 0, 1])
    assert list(info.p) == pytest.approx(
        [200 * sx, 0, 80 * sx, -16 * sx, 0, 200 * sy, 60 * sy, -8 * sy, 0, 0, 1, 0])
    assert list(info.d) == pytest.approx(list(sent.d)) and info.distortion_model == "plumb_bob"
    assert (info.roi.width, info.roi.height, info.binning_x, info.binning_y) == (0, 0, 0, 0)


def test_camera_info_is_passed_on_at_input_size(node_input_size):
    sent, out = send_with_info("/cj", 8_000_000_000)
    info, label = out["info"], out["label"]
    assert info.header == label.header
    assert (info.height, info.width) == (CAMERA_H, CAMERA_W)
    assert list(info.k) == pytest.approx(list(sent.k))
    assert list(info.p) == pytest.approx(list(sent.p))
