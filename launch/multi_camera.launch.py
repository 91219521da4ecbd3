"""Two cameras, front and rear: one segmentation node serving both, or one node per camera.

    ros2 launch fanet_ros multi_camera.launch.py \
        front_image:=/front/camera/image_raw rear_image:=/rear/camera/image_raw

Relative camera topics (the defaults, front/camera/image_raw and rear/camera/image_raw) resolve
under the namespace a bringup includes this file in (PushRosNamespace), in both modes.

one_node:=true (default): one process and one model (one engine on a GPU, front_gpu_device)
serve both cameras (parameter cameras: [front, rear]); the outputs are
/segmentation_node/front/overlay and /segmentation_node/rear/overlay.
one_node:=false: what segmentation.launch.py starts, per camera, under its own namespace:
/front/segmentation_node/overlay and /rear/segmentation_node/overlay, both on front_gpu_device
unless rear_gpu_device names another GPU.
Both cameras are checked before anything starts.
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
from fanet_ros.launching.launch_arguments import (
    ARGUMENTS_BY_NAME,
    BOOLEANS,
    LaunchArgument,
    full_namespace,
    is_true,
    resolve_launch,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
CAMERAS = ("front", "rear")
"""The cameras; the first one's gpu_device serves both with one_node:=true."""
SHARED = ("model", "dataset", "model_path", "params_file", "backend", "precision",
          "use_sim_time", "dds_profile", "lifecycle", "autostart")
"""segmentation.launch.py arguments both cameras take."""
ARGUMENTS = [ARGUMENTS_BY_NAME[name] for name in SHARED] + [
    LaunchArgument("one_node", "true", "true: one node and one model serve both cameras (on "
                   "front_gpu_device); false: a node per camera, each in the camera's namespace "
                   "(on rear_gpu_device where set).", BOOLEANS),
] + [
    argument for camera in CAMERAS for argument in (
        LaunchArgument(f"{camera}_image", f"{camera}/camera/image_raw",
                       f"Camera topic of the {camera} camera. Relative names resolve under the "
                       "namespace this launch is included in (/ alone)."),
        LaunchArgument(f"{camera}_gpu_device", "", f"CUDA device of the {camera} camera's node "
                       "(one_node:=false; with one_node:=true the node uses front_gpu_device). "
                       + ("Empty: front_gpu_device." if camera != CAMERAS[0] else
                          "Empty: the params_file value (node default 0)."),),
        LaunchArgument(f"{camera}_rviz", "false", f"Start an rviz2 window for the {camera} camera.",
                       BOOLEANS),
    )
]


def start_cameras(context: LaunchContext) -> list:
    check_command_line(context, (a.name for a in ARGUMENTS))
    value = {a.name: LaunchConfiguration(a.name).perform(context) for a in ARGUMENTS}
    outer = context.launch_configurations.get("ros_namespace")
    one_node = is_true(value["one_node"])
    first = CAMERAS[0]
    plans = [  # every camera is checked before anything starts
        resolve_launch({**{name: value[name] for name in SHARED},
                        "namespace": "" if one_node else camera,
                        "image": full_namespace(value[f"{camera}_image"], outer),
                        "gpu_device": value[f"{first if one_node else camera}_gpu_device"]
                        or value[f"{first}_gpu_device"],
                        "rviz": value[f"{camera}_rviz"]}, CONFIG_DIR, outer,
                       camera=camera if one_node else "")
        for camera in CAMERAS
    ]
    stop = launched_directly(context)
    if one_node:
        return segmentation_actions(plans, CONFIG_DIR, stop)
    return [action for plan in plans for action in segmentation_actions(plan, CONFIG_DIR, stop)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare(ARGUMENTS), OpaqueFunction(function=start_cameras)])
