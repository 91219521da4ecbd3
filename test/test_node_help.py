"""``--help`` on every way to start the nodes: usage from the parameter table, exit 0, no node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fanet_ros.evaluation.evaluator_node import EVALUATOR_PARAMETERS
from fanet_ros.node.node_parameters import NODE_PARAMETERS, ParameterSpec, format_default
from fanet_ros.node.node_usage import help_requested, split_ros_arguments

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SEGMENTATION = NODE_PARAMETERS
EVALUATOR = EVALUATOR_PARAMETERS

COMMANDS = [
    pytest.param([str(BIN / "fanet-segmentation-node")], SEGMENTATION,
                 id="fanet-segmentation-node"),
    pytest.param([str(BIN / "fanet-evaluator-node")], EVALUATOR, id="fanet-evaluator-node"),
    pytest.param([sys.executable, str(ROOT / "ros_executables/segmentation_node")], SEGMENTATION,
                 id="ros-segmentation_node"),
    pytest.param([sys.executable, str(ROOT / "ros_executables/evaluator_node")], EVALUATOR,
                 id="ros-evaluator_node"),
    pytest.param([sys.executable, "-m", "fanet_ros.node.segmentation_node"], SEGMENTATION,
                 id="python-m-segmentation_node"),
    pytest.param([sys.executable, "-m", "fanet_ros.evaluation.evaluator_node"], EVALUATOR,
                 id="python-m-evaluator_node"),
]


@pytest.mark.parametrize(("command", "specs"), COMMANDS)
def test_help_prints_every_parameter_and_exits_0_without_a_node(
    command: list[str], specs: tuple[ParameterSpec, ...]
):
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed (pip install -e .)")
    # a bad value after --help: the node would refuse it, so exit 0 proves it never started
    done = subprocess.run([*command, "--help", "--ros-args", "-p", "no_such:=1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    text = done.stdout
    assert text.startswith("usage: ")
    assert "--ros-args -p name:=value" in text and "--params-file" in text
    for spec in specs:
        assert f"  {spec.name}  (default {format_default(spec.default)}" in text, spec.name
        assert spec.description.split()[0] in text
    assert "model loaded" not in text and "listening on" not in text


def test_short_flag_is_help_too():
    done = subprocess.run([sys.executable, "-m", "fanet_ros.node.segmentation_node", "-h"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: ")


@pytest.mark.parametrize(("argv", "wanted"), [
    (["--help"], True),
    (["-h", "--ros-args", "-p", "backend:=onnxruntime"], True),
    (["--ros-args", "-p", "backend:=onnxruntime"], False),
    (["--ros-args", "-p", "model_path:=--help"], False),  # a parameter's value, not the flag
    (["--ros-args", "--help"], False),  # ROS's own argument list: left to rcl, as before
    (["--ros-args", "-r", "a:=b", "--", "--help"], True),
    ([], False),
])
def test_help_is_the_programs_own_flag_only(argv: list[str], wanted: bool):
    assert help_requested(argv) is wanted


def test_ros_sections_are_split_off_as_rcl_does():
    own, ros = split_ros_arguments(
        ["in.bag", "--ros-args", "-p", "a:=1", "--", "-v", "--ros-args", "-r", "x:=y"])
    assert own == ["in.bag", "-v"]
    assert ros == ["-p", "a:=1", "-r", "x:=y"]


@pytest.mark.parametrize(("command", "specs"), COMMANDS)
@pytest.mark.parametrize("ros_arguments", [["-p", "model_path:="], ["-p"]],
                         ids=["empty-value", "trailing-p"])
def test_malformed_ros_arguments_are_one_line_and_exit_2(
    command: list[str], specs: tuple[ParameterSpec, ...], ros_arguments: list[str]
):
    """rcl refuses them in rclpy.init: the nodes ended in a traceback."""
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed (pip install -e .)")
    done = subprocess.run([*command, "--ros-args", *ros_arguments], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "invalid ROS arguments: failed to initialize rcl: Couldn't parse" in done.stderr
    assert "--help)" in done.stderr
