"""Two cameras, two segmentation nodes: /front and /rear, each on its own GPU.

    ros2 launch fanet_ros multi_camera.launch.py \
        front_image:=/front/camera/image_raw rear_image:=/rear/camera/image_raw \
        front_gpu_device:=0 rear_gpu_device:=1

Each camera is segmentation.launch.py included with its own namespace, image
topic and gpu_device; the outputs are /front/segmentation_node/overlay and
/rear/segmentation_node/overlay (and label, color, label_info).
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from fanet_ros.launch_arguments import ARGUMENTS_BY_NAME

SEGMENTATION_LAUNCH = str(Path(__file__).resolve().parent / "segmentation.launch.py")
CAMERAS = {"front": "0", "rear": "1"}
"""Namespace -> default gpu_device."""
SHARED = ("model", "dataset", "model_path", "params_file", "backend", "precision",
          "use_sim_time", "dds_profile")
"""segmentation.launch.py arguments both cameras take from this launch's arguments."""


def camera_arguments(camera: str, gpu_device: str) -> list[DeclareLaunchArgument]:
    return [
        DeclareLaunchArgument(
            f"{camera}_image", default_value=f"/{camera}/camera/image_raw",
            description=f"Camera topic of the {camera} camera.",
        ),
        DeclareLaunchArgument(
            f"{camera}_gpu_device", default_value=gpu_device,
            description=f"CUDA device of the {camera} camera's node.",
        ),
        DeclareLaunchArgument(
            f"{camera}_rviz", default_value="false", choices=["true", "false"],
            description=f"Start an rviz2 window for the {camera} camera.",
        ),
    ]


def include_camera(camera: str) -> GroupAction:
    arguments = {name: LaunchConfiguration(name) for name in SHARED}
    arguments |= {
        "namespace": camera,
        "image": LaunchConfiguration(f"{camera}_image"),
        "gpu_device": LaunchConfiguration(f"{camera}_gpu_device"),
        "rviz": LaunchConfiguration(f"{camera}_rviz"),
    }
    return GroupAction([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(SEGMENTATION_LAUNCH),
            launch_arguments=arguments.items(),
        )
    ])


def generate_launch_description() -> LaunchDescription:
    shared = [DeclareLaunchArgument(name, **ARGUMENTS_BY_NAME[name].declaration())
              for name in SHARED]
    per_camera = [
        action for camera, gpu in CAMERAS.items() for action in camera_arguments(camera, gpu)
    ]
    return LaunchDescription([*shared, *per_camera, *(include_camera(c) for c in CAMERAS)])
