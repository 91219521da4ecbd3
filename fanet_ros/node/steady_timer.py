"""Timers on the steady clock, for the node's housekeeping."""

from __future__ import annotations

from collections.abc import Callable

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.timer import Timer


def steady_timer(node: Node, period_s: float, callback: Callable[[], None]) -> Timer:
    """``node.create_timer`` on the steady clock, not the node's ROS clock.

    With ``use_sim_time`` a ROS-clock timer fires only while ``/clock`` advances: a bag
    played without ``--clock``, paused, or not started yet would silence ``/diagnostics``
    and freeze the input QoS matching. Housekeeping runs in real time whatever the bag does;
    message stamps still come from the node's clock.
    """
    return node.create_timer(period_s, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))
