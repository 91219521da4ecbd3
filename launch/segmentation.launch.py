"""Start segmentation_node (and optionally rviz2) for one camera.

    ros2 launch fanet_ros segmentation.launch.py image:=/camera/image_raw namespace:=front
    ros2 launch fanet_ros segmentation.launch.py --show-args

Choices and checks: fanet_ros.launching.launch_arguments; parameter values are checked by the node.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import OpaqueFunction
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration

from fanet_ros.launching.launch_actions import (
    check_command_line,
    declare,
    launched_directly,
    segmentation_actions,
)
from fanet_ros.launching.launch_arguments import LAUNCH_ARGUMENTS, resolve_launch

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
"""share/fanet_ros/config when installed, config/ in a source checkout."""


def start_segmentation(context: LaunchContext) -> list:
    check_command_line(context, (a.name for a in LAUNCH_ARGUMENTS))
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    plan = resolve_launch(arguments, CONFIG_DIR, context.launch_configurations.get("ros_namespace"))
    return segmentation_actions(plan, CONFIG_DIR, stop_on_failure=launched_directly(context))


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [*declare(LAUNCH_ARGUMENTS), OpaqueFunction(function=start_segmentation)]
    )
