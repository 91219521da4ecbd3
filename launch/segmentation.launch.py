"""Start segmentation_node (and optionally rviz2) for one camera.

    ros2 launch fanet_ros segmentation.launch.py model:=fanet dataset:=camvid \
        image:=/camera/image_raw namespace:=front rviz:=true
    ros2 launch fanet_ros segmentation.launch.py --show-args

Every decision (defaults, parameter file, checks, rviz topics) is made by
fanet_ros.launch_arguments; bad arguments stop the launch with a message that
lists each problem.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, SetParameter

from fanet_ros.launch_arguments import (
    LAUNCH_ARGUMENTS,
    NODE_NAME,
    RVIZ_TEMPLATE,
    resolve_launch,
    write_rviz_config,
)

SHARE_DIR = Path(__file__).resolve().parent.parent
"""share/fanet_ros when installed, the repository root in a source checkout."""
CONFIG_DIR = SHARE_DIR / "config"


def start_segmentation(context: LaunchContext) -> list:
    """Evaluate the arguments into the node (and rviz2) to start."""
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    plan = resolve_launch(
        arguments, CONFIG_DIR, context.launch_configurations.get("ros_namespace")
    )
    actions = [
        *(SetEnvironmentVariable(name, value) for name, value in plan.environment.items()),
        SetParameter(name="use_sim_time", value=plan.use_sim_time),
        Node(
            package="fanet_ros",
            executable="segmentation_node",
            name=NODE_NAME,
            namespace=plan.namespace,
            parameters=[plan.parameters],
            remappings=[("image", plan.image_topic)],
            output="screen",
            emulate_tty=True,
        ),
    ]
    if plan.rviz:
        rviz_config = write_rviz_config(CONFIG_DIR / RVIZ_TEMPLATE, plan)
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=plan.namespace,
                arguments=["-d", str(rviz_config)],
                output="screen",
            )
        )
    return [GroupAction(actions)]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(a.name, **a.declaration()) for a in LAUNCH_ARGUMENTS]
    return LaunchDescription([*declared, OpaqueFunction(function=start_segmentation)])
