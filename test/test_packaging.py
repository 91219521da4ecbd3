"""The package installs as ROS 2 expects (colcon layout) and as a pip wheel."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARE_FILES = (
    "share/ament_index/resource_index/packages/fanet_ros",
    "share/fanet_ros/package.xml",
    "share/fanet_ros/requirements.txt",  # what rosdep cannot install (the import errors name it)
)
ROS_NAMES = ("segmentation_node", "segmentation_lifecycle_node", "evaluator_node", "demo",
             "make_bag", "bag_eval", "robustness", "build_engine", "check_engine")
"""What `ros2 run fanet_ros <name>` runs."""
PIP_NAMES = tuple(f"fanet-{name.replace('_', '-')}" for name in ROS_NAMES) + (
    "fanet-train", "fanet-evaluate", "fanet-export")
"""What pip puts on PATH: every command carries the project's prefix."""


def test_package_xml_is_format_3_ament_python_with_rosdep_keys():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "fanet_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root if e.tag.endswith("depend")}
    for key in ("rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "python3-numpy",
                "python3-opencv", "launch", "launch_ros", "ros2launch", "python3-pytest"):
        assert key in deps, key
    assert "rviz2" not in deps  # optional: only rviz:=true starts it (the launch checks for it)


ROSDEP_KEYS = {"cv2": "python3-opencv", "numpy": "python3-numpy", "yaml": "python3-yaml",
               "tqdm": "python3-tqdm", "matplotlib": "python3-matplotlib", "PIL": "python3-pil"}
"""Python module -> rosdep key, where they differ (ROS packages keep their name)."""
PIP_ONLY = {"onnxruntime", "onnx", "rosbags"}
"""No rosdep key on every distro: requirements.txt (package.xml says so)."""
OPTIONAL = {"tensorrt", "cuda", "cityscapesscripts"}
"""Imported only where used (GPU backend, Cityscapes labelIds); package.xml names them."""
ROS_PACKAGES = {"rclpy", "rcl_interfaces", "builtin_interfaces", "sensor_msgs", "std_msgs",
                "lifecycle_msgs",
                "diagnostic_msgs", "ament_index_python", "launch", "launch_ros"}


def imported_modules() -> set[str]:
    """Top-level modules the package's code, launch files and executables import."""
    import ast

    files = [*(ROOT / "fanet_ros").rglob("*.py"), *(ROOT / "launch").glob("*.py"),
             *(ROOT / "ros_executables").iterdir()]
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"fanet_ros", "__future__"}


def test_package_xml_lists_every_import():
    root = ET.parse(ROOT / "package.xml").getroot()
    deps = {e.text for e in root if e.tag == "exec_depend"}
    text = (ROOT / "package.xml").read_text()
    requirements = (ROOT / "requirements.txt").read_text()
    for module in imported_modules():
        if module in PIP_ONLY:
            assert module in requirements and module in text, module
        elif module in OPTIONAL:
            assert module.replace("cuda", "cuda-python") in text, module
        else:
            assert module in ROS_PACKAGES or module in ROSDEP_KEYS, f"new import {module}"
            assert ROSDEP_KEYS.get(module, module) in deps, module


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (path,) = out.glob("fanet_ros-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_installs_node_training_share_files_and_scripts(wheel):
    names = set(wheel.namelist())
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    for share in SHARE_FILES:
        assert f"{data}/data/{share}" in names, share
    assert any(n.startswith(f"{data}/data/share/fanet_ros/launch/") for n in names)
    assert any(n.startswith(f"{data}/data/share/fanet_ros/config/") for n in names)
    assert "fanet_ros/node/segmentation_node.py" in names
    assert "fanet_training/__init__.py" in names
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    scripts = {line.split(" = ")[0] for line in entry_points.splitlines() if " = " in line}
    assert scripts == set(PIP_NAMES)  # no bare `demo`, `make_bag`... on PATH
    for name in ROS_NAMES:  # ros2 run's names: in lib/fanet_ros only, executable
        info = wheel.getinfo(f"{data}/data/lib/fanet_ros/{name}")
        assert info.external_attr >> 16 & 0o111, name

def test_colcon_style_install_puts_executables_where_ros2_run_looks(tmp_path):
    """What `colcon build` does for ament_python: setup.py install with setup.cfg's script dir."""
    prefix = tmp_path / "install" / "fanet_ros"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path),
         "build", "--build-base", str(tmp_path / "build"),
         "install", "--prefix", str(prefix), "--record", str(tmp_path / "record.txt"),
         "--single-version-externally-managed"],
        cwd=ROOT, check=True, capture_output=True,
    )
    lib = prefix / "lib" / "fanet_ros"
    ros_names = {path.name for path in (ROOT / "ros_executables").iterdir()}
    assert {path.name for path in lib.iterdir()} == ros_names  # no fanet-* beside them
    assert set(ROS_NAMES) <= ros_names
    for exe in ros_names:
        assert os.access(lib / exe, os.X_OK), exe
        # the Python that built the workspace, not the first python3 on PATH
        assert (lib / exe).read_text().splitlines()[0] == f"#!{sys.executable}", exe
    assert not (prefix / "bin").exists()  # nothing lands on PATH in a ROS workspace
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(p) for p in prefix.glob("lib/python*/site-packages")] + sys.path)}
    run = subprocess.run([sys.executable, str(lib / "make_bag"), "--help"], env=env,
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "usage:" in run.stdout, run.stderr
    for share in SHARE_FILES:
        assert (prefix / share).is_file(), share
    assert list((prefix / "share" / "fanet_ros" / "launch").glob("*.launch.py"))
    assert list((prefix / "share" / "fanet_ros" / "config").glob("*.yaml"))


HIDE_ONNXRUNTIME = (
    "import importlib.abc, sys\n"
    "class Missing(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('onnxruntime', 'onnx'):\n"
    "            raise ModuleNotFoundError(name, name=name)\n"
    "sys.meta_path.insert(0, Missing())\n")


@pytest.mark.parametrize("module", ["fanet_ros.launching.launch_arguments",
                                    "fanet_ros.node.segmentation_node",
                                    "fanet_ros.node.segmentation_lifecycle_node"])
def test_a_missing_pip_requirement_is_named_with_the_command_that_installs_it(module):
    """rosdep installs package.xml's keys, not requirements.txt: before, `ros2 launch` (even
    --show-args) and `ros2 run` ended in a bare "No module named 'onnxruntime'" traceback."""
    result = subprocess.run([sys.executable, "-c", f"{HIDE_ONNXRUNTIME}import {module}\n"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0
    assert ("fanet_ros needs the Python packages onnxruntime, onnx, which rosdep does not "
            "install: pip install -r $(ros2 pkg prefix fanet_ros)/share/fanet_ros/"
            "requirements.txt") in result.stderr


def test_the_bag_tools_need_no_onnxruntime_to_evaluate_a_running_node():
    """bag_eval imports small helpers of fanet_ros.node (topics, QoS): the node's check of its
    own requirements must not come with them."""
    result = subprocess.run(
        [sys.executable, "-c", f"{HIDE_ONNXRUNTIME}import fanet_ros.evaluation.bag_eval\n"],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_symlink_install_executables_start_the_python_that_built_them(tmp_path, monkeypatch):
    """colcon --symlink-install (setuptools < 80) runs `setup.py develop` in a build folder of
    links to the source and links lib/fanet_ros to its ros_executables: those links become
    copies that start this Python (not the first python3 on PATH); the source is untouched."""
    import setuptools

    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: None)
    copy_linked = runpy.run_path(str(ROOT / "setup.py"))["_copy_linked_executables"]
    built = tmp_path / "build" / "ros_executables"
    built.mkdir(parents=True)
    for path in (ROOT / "ros_executables").iterdir():
        (built / path.name).symlink_to(path)
    copy_linked(str(built))
    for name in ROS_NAMES:
        assert not (built / name).is_symlink() and os.access(built / name, os.X_OK), name
        assert (built / name).read_text().splitlines()[0] == f"#!{sys.executable}", name
        assert (ROOT / "ros_executables" / name).read_text().startswith("#!/usr/bin/env python3")
    copy_linked(str(ROOT / "ros_executables"))  # run in the source: nothing changes
    assert (ROOT / "ros_executables" / "demo").read_text().startswith("#!/usr/bin/env python3")
