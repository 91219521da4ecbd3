"""Test-wide set-up: local-only DDS on a per-run domain, before anything imports rclpy."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fanet_ros.tooling.ros_env import (  # noqa: E402
    reserve_ros_domain,
    use_local_ros_domain,
)

# Every pytest process (the run, or the pytest-xdist controller and each worker) reserves a
# domain of its own, so neither two workers nor two runs on one machine ever meet; the nodes
# and tools a test starts inherit it through ROS_DOMAIN_ID.
ROS_DOMAIN_ID = use_local_ros_domain(reserve_ros_domain())

TRAINING_IMPORT = re.compile(r"^(from|import) (keras|tensorflow|tf2onnx|fanet_training)\b", re.M)
"""A test file that needs the training extra (``pip install -e .[training]``)."""
HAS_TRAINING = importlib.util.find_spec("keras") is not None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without Keras (a ROS install's ``colcon test``), the training tests are left out
    rather than failing to import; ``pytest_report_header`` says so."""
    if HAS_TRAINING or collection_path.suffix != ".py":
        return None
    return bool(TRAINING_IMPORT.search(collection_path.read_text())) or None


def pytest_report_header(config: pytest.Config) -> str | None:
    if HAS_TRAINING:
        return None
    return "Keras is not installed: training tests not collected (pip install -e .[training])"


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


@pytest.fixture
def fake_gpu(monkeypatch):
    """``fake_gpu(version, ...)`` installs a fake ``tensorrt`` and CUDA for one test
    (:func:`fake_tensorrt.install_fake_gpu`); the modules that imported them are forgotten
    after it."""
    from fake_tensorrt import forget_tensorrt_modules, install_fake_gpu

    yield functools.partial(install_fake_gpu, monkeypatch)
    forget_tensorrt_modules()
