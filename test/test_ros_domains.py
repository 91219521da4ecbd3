"""Test runs stay on their own ROS domain: one per pytest process, reserved on the machine."""

from __future__ import annotations

import os
import subprocess
import sys

from fanet_ros.tooling.ros_env import DOMAINS, reserve_ros_domain


def test_this_process_uses_a_local_domain_of_its_own() -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert int(os.environ["ROS_DOMAIN_ID"]) in DOMAINS  # below the ephemeral ports


def test_processes_never_reserve_a_domain_another_holds() -> None:
    held = {int(os.environ["ROS_DOMAIN_ID"]), reserve_ros_domain(), reserve_ros_domain()}
    assert len(held) == 3  # this run's, and two more
    code = ("from fanet_ros.tooling.ros_env import reserve_ros_domain; "
            "print(reserve_ros_domain(), reserve_ros_domain(exclude=5))")
    others = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert len({*held, *map(int, others)}) == 5 and "5" not in others[1:]
