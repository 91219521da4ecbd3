"""``--help`` for the ROS nodes: usage and the node's parameter table, without starting it.

The parameters come from the node's own table (:mod:`fanet_ros.node.node_parameters`), so the
help text, the declared descriptors and the launch checks never disagree.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

from fanet_ros.node.node_parameters import ParameterSpec, format_default

HELP_FLAGS = ("-h", "--help")
WIDTH = 100


def split_ros_arguments(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` split as rcl splits it: the program's own arguments, and ROS's (every
    ``--ros-args ... [--]`` section, the markers left out; ``-p name:=--help`` is ROS's)."""
    own: list[str] = []
    ros: list[str] = []
    in_ros_args = False
    for item in argv:
        if item == "--ros-args":
            in_ros_args = True
        elif item == "--" and in_ros_args:
            in_ros_args = False
        else:
            (ros if in_ros_args else own).append(item)
    return own, ros


def help_requested(argv: Sequence[str]) -> bool:
    """Whether ``-h`` / ``--help`` is among the program's own arguments (not ROS's)."""
    own, _ = split_ros_arguments(argv)
    return any(item in HELP_FLAGS for item in own)


def _constraint(spec: ParameterSpec) -> str:
    if spec.choices:
        return "one of: " + ", ".join(spec.choices)
    if spec.int_range is not None:
        low, high, step = spec.int_range
        return f"integer {low}..{high}" + (f", step {step}" if step > 1 else "")
    if spec.float_range is not None:
        return f"{spec.float_range[0]}..{spec.float_range[1]}"
    return "list of names" if spec.names else ""


def parameters_help(specs: Iterable[ParameterSpec]) -> str:
    """One entry per parameter: name, default, constraint, then the wrapped description."""
    lines = []
    for spec in specs:
        facts = [f"default {format_default(spec.default)}", _constraint(spec),
                 "" if spec.read_only else "settable at run time"]
        lines.append(f"  {spec.name}  ({'; '.join(fact for fact in facts if fact)})")
        lines += textwrap.wrap(spec.description, WIDTH, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return "\n".join(lines)


def usage(program: str, summary: str, specs: Iterable[ParameterSpec], example: str) -> str:
    """The whole ``--help`` text of a node."""
    return "\n".join([
        f"usage: {program} [-h]",
        f"       {program} --ros-args [-p NAME:=VALUE ...] [--params-file FILE] "
        "[-r FROM:=TO ...]",
        "",
        textwrap.dedent(summary).strip(),
        "",
        "Parameters: set each with --ros-args -p name:=value, or many in a ROS 2 YAML file",
        "with --ros-args --params-file FILE.",
        parameters_help(specs),
        "",
        "Example:",
        f"  {program} --ros-args {example}",
        "",
    ])


def exit_if_help(
    summary: str, specs: Iterable[ParameterSpec], example: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Print the usage and exit 0 when ``argv`` (default ``sys.argv``) asks for help."""
    argv = sys.argv if argv is None else argv
    if help_requested(argv[1:]):
        program = Path(argv[0]).stem if argv else "node"
        sys.stdout.write(usage(program, summary, specs, example))
        raise SystemExit(0)


def init_ros(args: list[str] | None, name: str) -> bool:
    """``rclpy.init(args=args)``; ``False`` after one line on stderr when rcl refuses the
    ROS arguments (e.g. ``-p model_path:=`` or a trailing ``-p``) instead of a traceback."""
    import rclpy
    from rclpy.impl.implementation_singleton import rclpy_implementation

    try:
        rclpy.init(args=args)
    except rclpy_implementation.RCLError as exc:
        print(f"{name}: invalid ROS arguments: {exc} (usage: ros2 run fanet_ros {name} "
              "--help)", file=sys.stderr)
        return False
    return True
