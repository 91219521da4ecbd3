"""The package installs as ROS 2 expects (colcon layout) and as a pip wheel."""

from __future__ import annotations

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
)
EXECUTABLES = ("segmentation_node", "bag_eval", "make_bag", "build_engine", "check_engine")


def test_package_xml_is_format_3_ament_python_with_rosdep_keys():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "fanet_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root if e.tag.endswith("depend")}
    for key in ("rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "python3-numpy",
                "python3-opencv", "launch", "launch_ros", "rviz2", "python3-pytest"):
        assert key in deps, key


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
    assert "fanet_ros/segmentation_node.py" in names
    assert "fanet_training/__init__.py" in names
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for exe in EXECUTABLES:
        assert f"{exe} = " in entry_points, exe


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
    for exe in EXECUTABLES:
        assert (prefix / "lib" / "fanet_ros" / exe).is_file(), exe
    for share in SHARE_FILES:
        assert (prefix / share).is_file(), share
    assert list((prefix / "share" / "fanet_ros" / "launch").glob("*.launch.py"))
    assert list((prefix / "share" / "fanet_ros" / "config").glob("*.yaml"))
