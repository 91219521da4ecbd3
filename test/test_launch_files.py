"""The launch files build LaunchDescriptions (needs ROS 2 launch_ros; skipped without it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

launch_ros = pytest.importorskip(
    "launch_ros", reason="launch_ros is not installed (source a ROS 2 Humble+ install)"
)
from launch import LaunchContext, LaunchDescription  # noqa: E402
from launch.actions import (  # noqa: E402
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    OpaqueFunction,
)
from launch.utilities import (  # noqa: E402
    normalize_to_list_of_substitutions,
    perform_substitutions,
)
from launch_ros.actions import Node  # noqa: E402

from fanet_ros.launch_arguments import LAUNCH_ARGUMENTS, LaunchArgumentError  # noqa: E402

LAUNCH_DIR = Path(__file__).resolve().parent.parent / "launch"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH_DIR / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared(description: LaunchDescription) -> dict[str, DeclareLaunchArgument]:
    return {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}


def test_segmentation_launch_declares_every_argument_with_its_description():
    description = load("segmentation.launch.py").generate_launch_description()
    arguments = declared(description)
    assert list(arguments) == [a.name for a in LAUNCH_ARGUMENTS]
    for argument in LAUNCH_ARGUMENTS:
        assert arguments[argument.name].description == argument.description
    assert any(isinstance(e, OpaqueFunction) for e in description.entities)


def evaluate(module: ModuleType, **values: str) -> tuple[LaunchContext, list]:
    """Run the launch file's OpaqueFunction on its defaults plus ``values``."""
    context = LaunchContext()
    context.launch_configurations.update({a.name: a.default for a in LAUNCH_ARGUMENTS})
    context.launch_configurations.update(values)
    return context, module.start_segmentation(context)


def test_segmentation_launch_starts_the_node_and_rviz(tiny_model):
    module = load("segmentation.launch.py")
    context, (group,) = evaluate(
        module, model_path=str(tiny_model), namespace="front", rviz="true"
    )
    assert isinstance(group, GroupAction)
    packages = [
        perform_substitutions(context, normalize_to_list_of_substitutions(e.node_package))
        for e in group.get_sub_entities()
        if isinstance(e, Node)
    ]
    assert packages == ["fanet_ros", "rviz2"]


def test_segmentation_launch_refuses_bad_arguments(tiny_model):
    with pytest.raises(LaunchArgumentError, match="gpu_device must be within"):
        evaluate(load("segmentation.launch.py"), model_path=str(tiny_model), gpu_device="-1")


def test_multi_camera_launch_includes_two_cameras():
    description = load("multi_camera.launch.py").generate_launch_description()
    assert {"front_gpu_device", "rear_gpu_device", "front_image", "rear_image"} <= set(
        declared(description)
    )
    groups = [e for e in description.entities if isinstance(e, GroupAction)]
    assert len(groups) == 2
    for group in groups:
        assert any(isinstance(e, IncludeLaunchDescription) for e in group.get_sub_entities())
