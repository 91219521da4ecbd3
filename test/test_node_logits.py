"""segmentation_node with a logits model, through real DDS: exact labels and ~/confidence."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import SpinningNode, camera_node, wait_for
from test_node import CAMERA_H, CAMERA_W, TIMEOUT, Client, camera_image, image_msg
from tiny_model import build_tiny_model

from fanet_ros.image_conversion import image_from_msg
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline

NS = "/l"


@pytest.fixture(scope="module")
def logits_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "logits.onnx", output="logits")


@pytest.fixture(scope="module")
def node(ros_context, logits_model, tmp_path_factory):
    yield from camera_node(tmp_path_factory.mktemp("node"), logits_model, NS)


def test_confidence_and_labels_at_camera_resolution(node, logits_model):
    reference = SegmentationPipeline(OnnxRuntimeBackend(logits_model))
    with SpinningNode() as spinner:
        client = Client(spinner, NS, ("label", "confidence"))
        client.wait_connected()
        msg = image_msg(camera_image(7), "bgr8", stamp_ns=7_000_000_007, frame_id="cam7")
        label = client.send_and_wait(msg, "label")
        confidence = client.send_and_wait(msg, "confidence")
        assert (confidence.height, confidence.width) == (CAMERA_H, CAMERA_W)
        assert confidence.encoding == "mono8" and confidence.header.frame_id == "cam7"
        expected = reference.process(image_from_msg(msg), want_confidence=True)
        np.testing.assert_array_equal(image_from_msg(label).pixels[:, :, 0], expected.labels)
        np.testing.assert_array_equal(image_from_msg(confidence).pixels[:, :, 0],
                                      expected.confidence)
        assert 255 // 11 <= expected.confidence.min() and expected.confidence.max() <= 255


def test_confidence_is_not_computed_without_subscribers(node):
    with SpinningNode() as spinner:
        client = Client(spinner, NS, ("label",))
        client.wait_connected()
        # the previous test's confidence subscriber must be gone from the node's view first
        status = client.status_after(lambda s: "published_confidence" in s)
        for _ in range(40):
            before = status
            client.send_and_wait(image_msg(camera_image(8), "rgb8", 8_000_000_000))
            status = client.status_after(
                lambda s, b=before: int(s["published_label"]) > int(b["published_label"]))
            if status["published_confidence"] == before["published_confidence"]:
                break
        for i in range(3):
            client.send_and_wait(image_msg(camera_image(9 + i), "rgb8", 9_000_000_000 + i))
        after = client.status_after(
            lambda s: int(s["published_label"]) >= int(status["published_label"]) + 3)
        assert after["published_confidence"] == status["published_confidence"]


@pytest.fixture(scope="module")
def labels_node(ros_context, tmp_path_factory):
    model = build_tiny_model(tmp_path_factory.mktemp("models") / "labels.onnx", output="labels")
    yield from camera_node(tmp_path_factory.mktemp("node"), model, "/lb")


def test_a_labels_model_skips_frames_only_confidence_is_asked_for(labels_node):
    """It has no confidence to give: the model does not run for a subscriber it cannot serve."""
    with SpinningNode() as spinner:
        client = Client(spinner, "/lb", ("confidence",))
        # no wait_connected(): nothing comes back on ~/confidence from a labels model
        assert wait_for(lambda: client.image_pub.get_subscription_count() > 0, TIMEOUT)
        # a frame sent before the node's side of the match completes is lost on the way:
        # frames go on until three have been skipped (or 50 were sent)
        def three_skipped(s: dict[str, str]) -> bool:
            return int(s["frames_skipped_no_subscribers"]) >= 3

        status: dict[str, str] = {}
        for i in range(50):
            client.image_pub.publish(image_msg(camera_image(20 + i), "rgb8", 20_000_000_000 + i))
            if status := client.status_after(three_skipped, 0.2):
                break
        status = status or client.status_after(three_skipped)
        assert status, "the frames were not skipped"
        assert status["frames_published"] == "0"
