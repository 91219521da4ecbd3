"""Keep DDS discovery on this machine and give each run its own domain.

Call :func:`use_local_ros_domain` before importing rclpy in anything this
repository starts (tests, benchmarks, the demo): Fast DDS otherwise
multicasts on the network, and concurrent runs would hear each other.
"""

from __future__ import annotations

import os


def use_local_ros_domain(domain_id: int | None = None) -> int:
    """Restrict discovery to localhost and pick a per-process domain; returns the domain id.

    Keeps an explicit ``ROS_DOMAIN_ID`` that is already set unless ``domain_id`` is given.
    """
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # Iron and later
    os.environ["ROS_LOCALHOST_ONLY"] = "1"  # Humble
    if domain_id is None:
        existing = os.environ.get("ROS_DOMAIN_ID", "")
        domain_id = int(existing) if existing.isdigit() else 1 + os.getpid() % 100
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    return domain_id
