"""The launch actions that start segmentation_node (and rviz2); imported by launch/*.py only.

Decisions live in :mod:`fanet_ros.launching.launch_arguments`; this module turns a
:class:`~fanet_ros.launching.launch_arguments.SegmentationLaunch` into ``launch`` actions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import launch.logging
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    GroupAction,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.event_handlers import OnProcessExit
from launch.events import matches_action
from launch.launch_context import LaunchContext
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from fanet_ros.launching.launch_arguments import (
    NODE_NAME,
    RVIZ_TEMPLATE,
    LaunchArgument,
    LaunchArgumentError,
    SegmentationLaunch,
    command_line_names,
    report,
    unknown_arguments,
    write_rviz_config,
)

LAUNCH_OPTIONS = ("launch-prefix", "launch-prefix-filter")
"""Names ``ros2 launch`` itself adds to the arguments."""


class NodeFailed(RuntimeError):
    """segmentation_node exited with an error: ``ros2 launch`` stops (and exits 1)."""


def declare(arguments: Iterable[LaunchArgument]) -> list[DeclareLaunchArgument]:
    return [DeclareLaunchArgument(a.name, **a.declaration()) for a in arguments]


def check_command_line(context: LaunchContext, declared: Iterable[str]) -> None:
    """Refuse ``name:=value`` arguments the launch file does not declare (launch ignores
    them silently, so a typo would run with the default).

    Only in the file that ``ros2 launch`` was given: ``context.argv`` is the command line of
    the whole launch, so a file included from another (a robot's bringup) would see that
    file's arguments.
    """
    if not launched_directly(context):
        return
    problems = unknown_arguments(command_line_names(context.argv or ()),
                                 [*declared, *LAUNCH_OPTIONS])
    if problems:
        raise LaunchArgumentError(report(problems))


def launched_directly(context: LaunchContext) -> bool:
    """Whether the launch file running now is the one named on the command line
    (``ros2 launch PACKAGE FILE ...`` or ``ros2 launch PATH ...``), not one it includes
    (a bringup of the same file name, in another package or folder, included it)."""
    current = context.get_locals_as_dict().get("current_launch_file_path")
    if current is None:
        return False
    given = Path(os.path.abspath(current))  # as launch has it (a symlink install: in share)
    for index, word in enumerate(sys.argv[1:]):
        if Path(word).name != given.name:
            continue
        if Path(word).is_file() and Path(word).resolve() == given.resolve():
            return True  # ros2 launch PATH
        if index > 0 and _in_share_of(sys.argv[index], given):
            return True  # ros2 launch PACKAGE FILE
    return False


def _in_share_of(package: str, path: Path) -> bool:
    """Whether ``path`` lies in ``package``'s share folder, as given or with links resolved
    (``colcon build --symlink-install`` links share files to the source tree)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        share = Path(os.path.abspath(get_package_share_directory(package)))
    except (PackageNotFoundError, ValueError):
        return False
    return share in path.parents or share.resolve() in path.resolve().parents


def segmentation_actions(
    plan: SegmentationLaunch | Sequence[SegmentationLaunch], config_dir: Path,
    stop_on_failure: bool = True,
) -> list[Any]:
    """The node (and rviz2) for ``plan``. When the node fails, ``stop_on_failure`` (the file
    ``ros2 launch`` was given) stops the launch (exit 1); else an error is logged and the
    launch that included this one (a robot's bringup) goes on, as launch_ros leaves it.

    Several plans (one per camera, each with its ``camera`` name, the same namespace and
    parameters): one node serves them all (its ``cameras`` parameter), with the first
    plan's parameters; rviz2 opens per plan that asks for it.
    """
    plans = [plan] if isinstance(plan, SegmentationLaunch) else list(plan)
    first = plans[0]
    parameters = dict(first.parameters)
    if any(p.camera for p in plans):
        parameters["cameras"] = [p.camera for p in plans]
    # A node parameter, not SetParameter: launch_ros appends SetParameter to a list that the
    # enclosing launch shares, so it would also reach every node started after this include.
    sim_time = {} if first.use_sim_time is None else {"use_sim_time": first.use_sim_time}
    node_kind, executable = (LifecycleNode, "segmentation_lifecycle_node") if first.lifecycle \
        else (Node, "segmentation_node")
    node = node_kind(
        package="fanet_ros",
        executable=executable,
        name=NODE_NAME,
        namespace=first.namespace,
        parameters=[str(first.params_file), parameters | sim_time],
        remappings=[p.image_remap for p in plans],
        output="screen",
        emulate_tty=True,
    )
    actions = [
        *(SetEnvironmentVariable(name, value) for name, value in first.environment.items()),
        node,
        RegisterEventHandler(OnProcessExit(
            target_action=node,
            on_exit=lambda event, context: _on_exit(first.node_fqn, event, context,
                                                    stop_on_failure),
        )),
    ]
    if first.lifecycle and first.autostart:
        actions += autostart_actions(node, first.node_fqn, stop_on_failure)
    for shown in (p for p in plans if p.rviz):
        rviz_config = write_rviz_config(config_dir / RVIZ_TEMPLATE, shown)
        actions.append(Node(package="rviz2", executable="rviz2",
                            name=f"rviz2_{shown.camera}" if shown.camera else "rviz2",
                            namespace=shown.namespace, arguments=["-d", str(rviz_config)],
                            parameters=[sim_time] if sim_time else None, output="screen"))
    return [GroupAction(actions)]


def autostart_actions(node: LifecycleNode, name: str, stop_on_failure: bool = True
                      ) -> list[Any]:
    """Configure ``node`` now, activate it once configured; a configure that fails (the node
    goes back to unconfigured) is handled as a segmentation_node failing is. Only the first
    configure: later transitions (an operator's, a manager's) are left alone."""
    started = {"activating": False}

    def change(transition: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition))

    def activate(context: LaunchContext) -> list[Any]:
        started["activating"] = True
        return [change(Transition.TRANSITION_ACTIVATE)]

    def configure_failed(context: LaunchContext) -> None:
        if not started["activating"]:
            _failed(f"{name} failed its configure transition (its log above says why)",
                    stop_on_failure)

    return [
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
            entities=[OpaqueFunction(function=activate)], handle_once=True)),
        *(RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state=start, goal_state="unconfigured",
            entities=[OpaqueFunction(function=configure_failed)]))
          for start in ("configuring", "errorprocessing")),
        change(Transition.TRANSITION_CONFIGURE),
    ]


def _on_exit(name: str, event: Any, context: LaunchContext, stop_on_failure: bool) -> None:
    if event.returncode != 0 and not context.is_shutdown:
        _failed(f"{name} exited with code {event.returncode} (its log above says why)",
                stop_on_failure)


def _failed(what: str, stop_on_failure: bool) -> None:
    if stop_on_failure:
        raise NodeFailed(f"{what}; stopping the launch")
    launch.logging.get_logger("fanet_ros").error(
        f"{what}; the launch file that included this one goes on without it")
