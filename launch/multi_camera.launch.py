"""Two cameras, two segmentation nodes: /front and /rear, each on its own GPU.

    ros2 launch fanet_ros multi_camera.launch.py \
        front_image:=/front/camera/image_raw rear_image:=/rear/camera/image_raw \
        front_gpu_device:=0 rear_gpu_device:=1

Each camera gets what segmentation.launch.py starts, under its own namespace: the
outputs are /front/segmentation_node/overlay and /rear/segmentation_node/overlay.
Both cameras are checked before either node starts.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import OpaqueFunction
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration

from fanet_ros.launch_actions import check_command_line, declare, segmentation_actions
from fanet_ros.launch_arguments import ARGUMENTS_BY_NAME, LaunchArgument, resolve_launch

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
CAMERAS = {"front": "0", "rear": "1"}
"""Namespace -> default gpu_device."""
SHARED = ("model", "dataset", "model_path", "params_file", "backend", "precision",
          "use_sim_time", "dds_profile")
"""segmentation.launch.py arguments both cameras take."""
ARGUMENTS = [ARGUMENTS_BY_NAME[name] for name in SHARED] + [
    argument for camera, gpu in CAMERAS.items() for argument in (
        LaunchArgument(f"{camera}_image", f"/{camera}/camera/image_raw",
                       f"Camera topic of the {camera} camera."),
        LaunchArgument(f"{camera}_gpu_device", gpu, f"CUDA device of the {camera} camera's node."),
        LaunchArgument(f"{camera}_rviz", "false", f"Start an rviz2 window for the {camera} camera.",
                       ("true", "false")),
    )
]


def start_cameras(context: LaunchContext) -> list:
    check_command_line(context, (a.name for a in ARGUMENTS))
    value = {a.name: LaunchConfiguration(a.name).perform(context) for a in ARGUMENTS}
    outer = context.launch_configurations.get("ros_namespace")
    plans = [  # every camera is checked before anything starts
        resolve_launch({**{name: value[name] for name in SHARED}, "namespace": camera,
                        "image": value[f"{camera}_image"],
                        "gpu_device": value[f"{camera}_gpu_device"],
                        "rviz": value[f"{camera}_rviz"]}, CONFIG_DIR, outer)
        for camera in CAMERAS
    ]
    return [action for plan in plans for action in segmentation_actions(plan, CONFIG_DIR)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare(ARGUMENTS), OpaqueFunction(function=start_cameras)])
