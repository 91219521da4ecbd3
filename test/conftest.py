"""Test-wide set-up: local-only DDS on a per-run domain, before anything imports rclpy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fanet_ros.tooling.ros_env import use_local_ros_domain  # noqa: E402

ROS_DOMAIN_ID = use_local_ros_domain()


@pytest.fixture(scope="module")
def ros_context():
    """rclpy's default context, for one test module."""
    import rclpy

    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="module")
def own_ros_context():
    """A context of the module's own (nodes made in this process take it as ``context=``)."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dynamic-size tiny CamVid model exported at 64x96."""
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")
