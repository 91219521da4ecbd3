"""The launch files run for real, as `ros2 launch` runs them (skipped where launch_ros is missing).

The package is installed colcon-style into a temporary prefix on AMENT_PREFIX_PATH, and
each launch runs in its own process through ros2launch's API (what `ros2 launch` calls).
Without ROS 2 sourced: install ros2/launch and launch_ros from source into a separate venv or
folder (docs/launch.md, "Testing the launch files") and put it on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("launch_ros", reason="launch_ros is not installed (docs/launch.md)")
pytest.importorskip("ros2launch", reason="ros2launch is not installed (docs/launch.md)")

from ros_harness import SpinningNode, wait_for, wait_for_service_replies  # noqa: E402

from fanet_ros.launching.launch_arguments import ARGUMENTS_BY_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUN_LAUNCH = """
import sys
from ros2launch.api import (get_share_file_path_from_package, launch_a_launch_file,
                            print_arguments_of_launch_file)
if not sys.argv[1].startswith("/"):  # the command line of `ros2 launch fanet_ros FILE ...`
    sys.argv.insert(1, "fanet_ros")
    path = get_share_file_path_from_package(package_name="fanet_ros", file_name=sys.argv[2])
else:  # `ros2 launch PATH ...`
    sys.argv.insert(1, "")
    path = sys.argv[2]
arguments = sys.argv[3:]
if arguments == ["--show-args"]:
    sys.exit(print_arguments_of_launch_file(launch_file_path=path))
sys.exit(launch_a_launch_file(launch_file_path=path, launch_file_arguments=arguments))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The environment of a shell that sourced a colcon install of this checkout."""
    tmp = tmp_path_factory.mktemp("colcon")
    prefix = tmp / "install"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp),
         "build", "--build-base", str(tmp / "build"), "install", "--prefix", str(prefix),
         "--record", str(tmp / "record.txt"), "--single-version-externally-managed"],
        cwd=ROOT, check=True, capture_output=True,
    )
    site = next(prefix.glob("lib/python*/site-packages"))
    return {**os.environ, "AMENT_PREFIX_PATH": os.pathsep.join(
                filter(None, [str(prefix), os.environ.get("AMENT_PREFIX_PATH")])),
            "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
            "RCUTILS_COLORIZED_OUTPUT": "0"}


def launch(env: dict[str, str], tmp_path: Path, file: str, *args: str) -> subprocess.Popen:
    log = (tmp_path / "launch.log").open("w")
    return subprocess.Popen([sys.executable, "-c", RUN_LAUNCH, file, *args], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            cwd=tmp_path)


def finish(proc: subprocess.Popen, tmp_path: Path, timeout: float = 60.0) -> tuple[int, str]:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError((tmp_path / "launch.log").read_text()) from None
    return code, (tmp_path / "launch.log").read_text()


def node_processes(marker: str) -> list[str]:
    """Command lines of running segmentation nodes started with ``marker`` in them."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "segmentation_node" in line and marker in line]


def published_topics(spinner: SpinningNode) -> set[str]:
    return {name for name, _ in spinner.node.get_topic_names_and_types()}


def test_launch_starts_the_node_and_ctrl_c_stops_it_cleanly(installed, ros_context, tmp_path,
                                                           tiny_model):
    proc = launch(installed, tmp_path, "segmentation.launch.py", f"model_path:={tiny_model}",
                  "namespace:=lf_a", "backend:=onnxruntime")
    try:
        with SpinningNode("launch_probe") as spinner:
            assert wait_for(lambda: "/lf_a/segmentation_node/label" in published_topics(spinner)
                            and "/lf_a/segmentation_node/camera_info" in published_topics(spinner),
                            60.0), (tmp_path / "launch.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole process group
    code, log = finish(proc, tmp_path)
    assert code == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log


def test_launch_stops_with_an_error_when_the_node_fails_at_start_up(installed, tmp_path):
    broken = tmp_path / "broken.onnx"  # exists (the launch accepts it), but the node cannot load
    broken.write_bytes(b"not an onnx model" * 64)
    proc = launch(installed, tmp_path, "segmentation.launch.py", f"model_path:={broken}",
                  "namespace:=lf_b")
    code, log = finish(proc, tmp_path)
    assert code == 1, log
    assert "corrupt" in log  # the node says why
    assert "/lf_b/segmentation_node exited with code 1" in log


@pytest.mark.parametrize(("autostart", "state"), [("true", "active"), ("false", "unconfigured")])
def test_lifecycle_launch_starts_the_managed_node_and_autostart_activates_it(
    installed, ros_context, tmp_path, tiny_model, autostart, state
):
    from test_node_lifecycle import Lifecycle

    ns = f"lf_lc_{autostart}"
    proc = launch(installed, tmp_path, "segmentation.launch.py", f"model_path:={tiny_model}",
                  f"namespace:={ns}", "lifecycle:=true", f"autostart:={autostart}")
    try:
        with SpinningNode("launch_probe") as spinner:
            lifecycle = Lifecycle(spinner.node, f"/{ns}/segmentation_node")
            assert wait_for(lambda: lifecycle.state() == state, 60.0, interval=0.5), (
                lifecycle.state(), (tmp_path / "launch.log").read_text())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log
    assert "Traceback" not in log, log


def test_lifecycle_launch_stops_when_configure_fails(installed, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model" * 64)
    proc = launch(installed, tmp_path, "segmentation.launch.py", f"model_path:={broken}",
                  "namespace:=lf_lc_bad", "lifecycle:=true")
    code, log = finish(proc, tmp_path)
    assert code == 1, log
    assert "configure failed" in log and "corrupt" in log  # the node says why
    assert "/lf_lc_bad/segmentation_node failed its configure transition" in log


def test_launch_wires_transport_and_output_resolution_and_the_namespace_moves_the_image(
        installed, ros_context, tmp_path, tiny_model):
    from rcl_interfaces.srv import GetParameters

    proc = launch(installed, tmp_path, "segmentation.launch.py", f"model_path:={tiny_model}",
                  "namespace:=lf_c", "image_transport:=compressed", "output_resolution:=model")
    try:
        with SpinningNode("launch_probe") as spinner:
            listened = "/lf_c/camera/image_raw/compressed"  # the relative default, moved
            assert wait_for(lambda: spinner.node.get_subscriptions_info_by_topic(listened),
                            60.0), (tmp_path / "launch.log").read_text()
            client = spinner.node.create_client(GetParameters,
                                                "/lf_c/segmentation_node/get_parameters")
            wait_for_service_replies(client, 30.0)
            future = client.call_async(GetParameters.Request(
                names=["image_transport", "output_resolution"]))
            assert wait_for(future.done, 30.0)
            values = [v.string_value for v in future.result().values]
            assert values == ["compressed", "model"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log


BRINGUP = """
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import PushRosNamespace
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    segmentation = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare("fanet_ros"), "launch", "segmentation.launch.py"])),
        launch_arguments={{"model_path": "{model}", "backend": "onnxruntime"}}.items())
    return LaunchDescription([
        DeclareLaunchArgument("robot"),
        GroupAction([PushRosNamespace(LaunchConfiguration("robot")), segmentation]),
    ])
"""


@pytest.mark.parametrize("name", ["robot_bringup.launch.py", "segmentation.launch.py"])
def test_a_robots_bringup_includes_the_launch_file_with_its_own_arguments(
        installed, ros_context, tmp_path, tiny_model, name):
    bringup = tmp_path / name  # the bringup may have the name of the file it includes
    bringup.write_text(BRINGUP.format(model=tiny_model))
    proc = launch(installed, tmp_path, str(bringup), "robot:=lf_r1")
    try:
        with SpinningNode("launch_probe") as spinner:
            assert wait_for(lambda: "/lf_r1/segmentation_node/label" in published_topics(spinner),
                            60.0), (tmp_path / "launch.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log
    assert "unknown argument" not in log, log


FAILING_BRINGUP = """
from launch import LaunchDescription
from launch.actions import ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description():
    return LaunchDescription([
        ExecuteProcess(cmd=["sleep", "60"], name="camera_driver", output="screen"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource("{launch_file}"),
            launch_arguments={{"model_path": "{model}", "namespace": "lf_fb"}}.items()),
    ])
"""


def test_a_node_that_fails_in_a_bringup_leaves_the_bringup_running(installed, tmp_path):
    """launch_ros leaves a bringup running when one of its nodes exits; the include raised
    and shut the robot's camera driver and every other node down."""
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model" * 64)
    bringup = tmp_path / "robot_bringup.launch.py"
    bringup.write_text(FAILING_BRINGUP.format(
        launch_file=ROOT / "launch" / "segmentation.launch.py", model=broken))
    proc = launch(installed, tmp_path, str(bringup))
    log_file = tmp_path / "launch.log"
    try:
        assert wait_for(lambda: "goes on without it" in log_file.read_text(), 60.0), \
            log_file.read_text()
        time.sleep(1.0)
        assert proc.poll() is None, log_file.read_text()  # the camera driver still runs
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert "/lf_fb/segmentation_node exited with code 1" in log
    assert "stopping the launch" not in log and code == 0, log


MULTI_BRINGUP = """
from launch import LaunchDescription
from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import PushRosNamespace


def generate_launch_description():
    return LaunchDescription([GroupAction([
        PushRosNamespace("lf_robot"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource("{launch_file}"),
            launch_arguments={{"model_path": "{model}", "backend": "onnxruntime",
                               "one_node": "{one_node}"}}.items()),
    ])])
"""


@pytest.mark.parametrize("one_node", ["true", "false"])
def test_multi_camera_default_cameras_follow_the_bringups_namespace(
        installed, ros_context, tmp_path, tiny_model, one_node):
    bringup = tmp_path / "robot_bringup.launch.py"
    bringup.write_text(MULTI_BRINGUP.format(
        launch_file=ROOT / "launch" / "multi_camera.launch.py", model=tiny_model,
        one_node=one_node))
    proc = launch(installed, tmp_path, str(bringup))
    cameras = ("/lf_robot/front/camera/image_raw", "/lf_robot/rear/camera/image_raw")
    try:
        with SpinningNode("launch_probe") as spinner:
            assert wait_for(lambda: all(spinner.node.get_subscriptions_info_by_topic(c)
                                        for c in cameras), 60.0), \
                (tmp_path / "launch.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log


SIM_BRINGUP = """
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import SetParameter


def show(context):
    print("global_params after the include:", context.launch_configurations.get("global_params"),
          flush=True)


def generate_launch_description():
    return LaunchDescription([
        SetParameter(name="use_sim_time", value=True),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource("{launch_file}"),
            launch_arguments={{"model_path": "{model}", "backend": "onnxruntime",
                               "namespace": "lf_sim"}}.items()),
        OpaqueFunction(function=show),
    ])
"""


def test_a_simulation_bringups_sim_time_reaches_the_node_and_nothing_leaks_back(
        installed, ros_context, tmp_path, tiny_model):
    """A bringup that sets use_sim_time for all its nodes (SetParameter) includes the launch file
    without the argument: the node follows it, and the include adds nothing to the parameters
    of the nodes the bringup starts after it."""
    from rcl_interfaces.srv import GetParameters

    bringup = tmp_path / "sim_bringup.launch.py"
    bringup.write_text(SIM_BRINGUP.format(
        launch_file=ROOT / "launch" / "segmentation.launch.py", model=tiny_model))
    proc = launch(installed, tmp_path, str(bringup))
    try:
        with SpinningNode("launch_probe") as spinner:
            client = spinner.node.create_client(GetParameters,
                                                "/lf_sim/segmentation_node/get_parameters")
            wait_for_service_replies(client, 60.0)
            future = client.call_async(GetParameters.Request(names=["use_sim_time"]))
            assert wait_for(future.done, 30.0)
            assert [v.bool_value for v in future.result().values] == [True]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log
    assert "global_params after the include: [('use_sim_time', True)]" in log, log


@pytest.mark.parametrize(("file", "args", "expected"), [
    ("segmentation.launch.py", ("rviz:=true",), "rviz2 is not installed"),
    ("multi_camera.launch.py", ("rear_rviz:=true",), "rviz2 is not installed"),
    ("segmentation.launch.py", ("imgae:=/cam",), "unknown argument 'imgae'"),
    ("segmentation.launch.py", ("model:=unet",),
     f"Valid options are: {list(ARGUMENTS_BY_NAME['model'].choices)}"),
    ("segmentation.launch.py", ("dataset:=kitti",),
     f"Valid options are: {list(ARGUMENTS_BY_NAME['dataset'].choices)}"),
    # what resolve_launch refuses, all in one launch (it lists every problem at once)
    ("segmentation.launch.py", ("model_path:=/no/such.onnx", "input_width:=abc",
                                "input_height:=64", "backend:=cuda", "output_resolution:=full"),
     ("'/no/such.onnx' does not exist",
      "input_width:=abc: input_width must be an integer within 0..8192 in steps of 32",
      "backend:=cuda: backend must be one of auto, onnxruntime, tensorrt, not 'cuda'",
      "output_resolution must be one of input, model")),
    ("multi_camera.launch.py", ("backend:=cuda",), "backend must be one of"),
])
def test_launch_only_problems_stop_it_before_anything_starts(installed, tmp_path, file, args,
                                                            expected):
    if "rviz:=true" in " ".join(args):
        from fanet_ros.launching.launch_arguments import rviz_installed

        if rviz_installed():
            pytest.skip("rviz2 is installed here")
    code, log = finish(launch(installed, tmp_path, file, *args), tmp_path)
    assert code == 1, log
    for message in (expected,) if isinstance(expected, str) else expected:
        assert message in log, log
    assert "process started" not in log, log  # nothing was started, nothing is orphaned
    time.sleep(0.5)
    assert not node_processes(str(tmp_path)), "a node was left running"


def test_show_args_lists_only_the_arguments_a_file_takes(installed, tmp_path):
    from fanet_ros.launching.launch_arguments import LAUNCH_ARGUMENTS

    code, single = finish(launch(installed, tmp_path, "segmentation.launch.py", "--show-args"),
                          tmp_path)
    assert code == 0, single
    for argument in LAUNCH_ARGUMENTS:
        assert f"'{argument.name}':" in single
    code, multi = finish(launch(installed, tmp_path, "multi_camera.launch.py", "--show-args"),
                         tmp_path)
    assert code == 0, multi
    assert "'front_image':" in multi and "'rear_gpu_device':" in multi
    assert "'one_node':" in multi and "'lifecycle':" in multi and "'autostart':" in multi
    for overridden in ("namespace", "image", "gpu_device", "rviz"):
        assert f"'{overridden}':" not in multi, overridden


@pytest.mark.parametrize("one_node", ["true", "false"])
def test_multi_camera_launch_serves_both_cameras(installed, ros_context, tmp_path, tiny_model,
                                                 one_node):
    params = tmp_path / "params.yaml"  # gpu_device from the file: no argument overrides it
    params.write_text("/**:\n  ros__parameters:\n    gpu_device: 1\n")
    proc = launch(installed, tmp_path, "multi_camera.launch.py", f"model_path:={tiny_model}",
                  "backend:=onnxruntime", f"one_node:={one_node}", f"params_file:={params}",
                  "front_image:=/lf_m/front_cam", "rear_image:=/lf_m/rear_cam")
    nodes = (["/segmentation_node"] if one_node == "true"
             else ["/front/segmentation_node", "/rear/segmentation_node"])
    outputs = ({"/segmentation_node/front/label", "/segmentation_node/rear/label"}
               if one_node == "true" else {f"{n}/label" for n in nodes})
    try:
        with SpinningNode("launch_probe") as spinner:
            assert wait_for(lambda: outputs <= published_topics(spinner)
                            and all(spinner.node.get_subscriptions_info_by_topic(f"/lf_m/{c}")
                                    for c in ("front_cam", "rear_cam")),
                            60.0), (tmp_path / "launch.log").read_text()
            def running() -> set[str]:
                return {f"{ns.rstrip('/')}/{name}"
                        for name, ns in spinner.node.get_node_names_and_namespaces()
                        if name == "segmentation_node"}

            assert wait_for(lambda: running() == set(nodes), 30.0), running()
            from rcl_interfaces.srv import GetParameters

            for node in nodes:  # the file's gpu_device: front_gpu_device defaulted to 0
                client = spinner.node.create_client(GetParameters, f"{node}/get_parameters")
                wait_for_service_replies(client, 30.0)
                future = client.call_async(GetParameters.Request(names=["gpu_device"]))
                assert wait_for(future.done, 30.0)
                assert [v.integer_value for v in future.result().values] == [1], node
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log


@pytest.mark.parametrize(("model", "height", "width"), [
    ("fanet", 288, 384), ("fanet", 480, 640)])  # odd pyramid sides; a VGA camera's size
# (every size the models take: test_resolution.py; here, that the launch passes it on)
def test_launch_runs_the_shipped_model_at_the_size_asked_for(installed, ros_context, tmp_path,
                                                             model, height, width):
    from ros_harness import DiagnosticsProbe

    ns = f"lf_size{height}"
    proc = launch(installed, tmp_path, "segmentation.launch.py", f"model:={model}",
                  f"input_height:={height}", f"input_width:={width}", f"namespace:={ns}",
                  "backend:=onnxruntime")
    try:
        with SpinningNode("launch_probe") as spinner:
            diag = DiagnosticsProbe(spinner.node, f"/{ns}/segmentation_node: segmentation")
            status = diag.status_after(lambda s: "model_input" in s, 60.0)
            assert status.get("model_input") == f"{height}x{width}", (
                (tmp_path / "launch.log").read_text())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
    code, log = finish(proc, tmp_path)
    assert code == 0, log
