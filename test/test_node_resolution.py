"""The node (a real process, real topics) runs the shipped model at a size it was not exported
at, chosen by parameter, and answers at the camera's size."""

from __future__ import annotations

import pytest
from ros_harness import SpinningNode, camera_node
from test_node import (
    CAMERA_H,
    CAMERA_W,
    Client,
    camera_image,
    image_msg,
)

from fanet_ros.shipped_models import resolve_model


@pytest.fixture(scope="module")
def node_256x320(ros_context, tmp_path_factory):
    yield from camera_node(tmp_path_factory.mktemp("node"), resolve_model("fanet_camvid"), "/rs",
                           backend="onnxruntime", input_height=256, input_width=320)


def test_node_runs_the_shipped_model_at_the_requested_size(node_256x320):
    with SpinningNode() as spinner:
        client = Client(spinner, "/rs", ("label", "color"))
        client.wait_connected()
        label = client.send_and_wait(image_msg(camera_image(3), "bgr8", 11_000_000_000))
        status = client.status_after(lambda s: "model_input" in s)
    assert (label.height, label.width) == (CAMERA_H, CAMERA_W)
    assert label.encoding == "mono8"
    assert status["model_input"] == "256x320"  # fanet_camvid's default is 384x512
