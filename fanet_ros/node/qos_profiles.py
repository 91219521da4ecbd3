"""QoS profiles shared by the nodes and the evaluation tools."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""Sent once and kept for late subscribers: ``~/label_info``."""


def output_qos() -> QoSProfile:
    """Reliable, newest image only: a slow subscriber gets the latest mask, not a queue of
    6 MB images (depth 5 cost +15 % RSS and 2.4x the p95 latency in bench/node_pipeline.py).

    A new profile for each topic, as :func:`sensor_data_qos`: rclpy's ``qos_overrides``
    write into the profile they are given, so a shared one would carry one topic's override
    to every topic created after it.
    """
    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


def sensor_data_qos(reliability: ReliabilityPolicy | None = None) -> QoSProfile:
    """A new copy of rclpy's ``qos_profile_sensor_data`` (best effort, keep last 5), with
    ``reliability`` instead of its own when given."""
    base = qos_profile_sensor_data
    return QoSProfile(history=base.history, depth=base.depth, durability=base.durability,
                      reliability=base.reliability if reliability is None else reliability)
