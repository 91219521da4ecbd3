"""QoS profiles shared by the nodes and the evaluation tools."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""Sent once and kept for late subscribers: ``~/label_info``."""


OUTPUT_DEPTH = 5
"""Samples each output keeps for reliable delivery. With 1, Fast DDS's default transport lost
a quarter to half of the label and colour frames of a 5 Hz 640x480 camera to reliable
subscribers that kept up (a camera-sized image goes in pieces through its 512 KiB
shared-memory segment, and the next frame replaced a sample whose pieces were being
repaired); with 5 the labels of that camera all arrived, and colour and overlay lost frames
only on a starved machine (test/test_node_reliability.py); a 30 Hz 1024x2048 camera still
lost about 1 % of each output (bench/results/node_pipeline.json). The large-images profile
delivers them all.
rviz2 subscribes at depth 5 too. A subscriber that wants only the newest mask keeps depth 1
on its own side."""


def output_qos() -> QoSProfile:
    """Reliable, keep last :data:`OUTPUT_DEPTH` (``qos_overrides`` change either).

    A new profile for each topic, as :func:`sensor_data_qos`: rclpy's ``qos_overrides``
    write into the profile they are given, so a shared one would carry one topic's override
    to every topic created after it.
    """
    return QoSProfile(depth=OUTPUT_DEPTH, reliability=ReliabilityPolicy.RELIABLE)


def sensor_data_qos(reliability: ReliabilityPolicy | None = None) -> QoSProfile:
    """A new copy of rclpy's ``qos_profile_sensor_data`` (best effort, keep last 5), with
    ``reliability`` instead of its own when given."""
    base = qos_profile_sensor_data
    return QoSProfile(history=base.history, depth=base.depth, durability=base.durability,
                      reliability=base.reliability if reliability is None else reliability)
