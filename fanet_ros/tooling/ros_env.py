"""Keep DDS discovery on this machine and give each run its own domain.

Call :func:`use_local_ros_domain` before importing rclpy in anything this
repository starts (tests, benchmarks, the demo): Fast DDS otherwise
multicasts on the network, and concurrent runs would hear each other.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

DOMAINS = range(1, 102)
"""Domain ids whose Fast DDS ports stay below Linux's ephemeral port range (ROS 2's advice:
0-101; 0 is left to the robot's own system)."""
DOMAIN_LOCKS = Path(tempfile.gettempdir()) / "fanet_ros_domains"
_reserved: list[int] = []
"""File descriptors of the domain locks this process holds (released when it exits)."""


def reserve_ros_domain(exclude: int | None = None) -> int:
    """A domain id of :data:`DOMAINS` that no other process on this machine has reserved:
    an exclusive ``flock`` on ``DOMAIN_LOCKS/<id>.lock``, held until this process exits (child
    processes inherit the id through ``ROS_DOMAIN_ID``, not the lock). Falls back to an id
    from the process id when the folder cannot be used or every id is taken."""
    count = len(DOMAINS)
    start = os.getpid() % count
    candidates = [DOMAINS[(start + k) % count] for k in range(count)]
    candidates = [d for d in candidates if d != exclude]
    try:
        DOMAIN_LOCKS.mkdir(exist_ok=True)
        if DOMAIN_LOCKS.stat().st_uid == os.getuid():
            DOMAIN_LOCKS.chmod(0o1777)  # other users' runs reserve here too (sticky, as /tmp)
    except OSError:
        return candidates[0]
    for domain in candidates:
        try:
            fd = os.open(DOMAIN_LOCKS / f"{domain}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _reserved.append(fd)
        return domain
    return candidates[0]


def explicit_ros_domain() -> int | None:
    """The ``ROS_DOMAIN_ID`` this process was given, if it holds one."""
    existing = os.environ.get("ROS_DOMAIN_ID", "")
    return int(existing) if existing.isdigit() else None


def use_local_ros_domain(domain_id: int | None = None) -> int:
    """Restrict discovery to localhost and pick a domain for this run; returns the domain id.

    Keeps an explicit ``ROS_DOMAIN_ID`` that is already set unless ``domain_id`` is given;
    else reserves one (:func:`reserve_ros_domain`).
    """
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # Iron and later
    os.environ["ROS_LOCALHOST_ONLY"] = "1"  # Humble
    if domain_id is None:
        existing = explicit_ros_domain()
        domain_id = existing if existing is not None else reserve_ros_domain()
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    return domain_id
