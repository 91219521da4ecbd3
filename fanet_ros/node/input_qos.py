"""The camera subscription's reliability, matched to the publishers it finds.

As rosbag2 and ``ros2 topic echo`` do: reliable when every publisher is
reliable, else best effort (a reliable subscription does not match a
best-effort publisher at all). A camera that publishes reliable then gets
every frame whatever its size, where a best-effort subscription loses frames
larger than the transport carries best effort (Fast DDS's default shared-memory
segment: 512 KiB, about a 640x480 bgr8 image minus its last rows). The
subscription is created anew when the publishers change the answer; the
``input_reliability`` parameter, or the standard
``qos_overrides.<topic>.subscription.reliability``, fixes it instead.

A publisher that matches (or fails to match) the subscription starts quick
re-checks (every :data:`QUICK_CHECK_S` for :data:`QUICK_CHECK_FOR_S`): the
graph may list the publisher a little after the match. A reliable camera that
starts after the node thus gets a reliable subscription within about 50 ms
rather than after up to a second of large frames lost best effort.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

try:
    from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.qos import QoSPolicyKind, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

from fanet_ros.node.qos_profiles import sensor_data_qos
from fanet_ros.node.steady_timer import steady_timer

_POLICIES = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
QUICK_CHECK_S = 0.02
QUICK_CHECK_FOR_S = 1.0
"""Re-check the publishers every ``QUICK_CHECK_S`` for ``QUICK_CHECK_FOR_S`` after a match."""
_NOT_SET = "system_default"
"""The QoS override parameter's default: leave the choice to ``input_reliability``."""


def reliability_for(publishers: Sequence[ReliabilityPolicy]) -> ReliabilityPolicy | None:
    """Reliable when every publisher is reliable, best effort when one is not, ``None``
    (keep what you have) when there is none."""
    if not publishers:
        return None
    if all(p == ReliabilityPolicy.RELIABLE for p in publishers):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def message_type_name(msg_type: type) -> str:
    """``sensor_msgs/msg/Image`` for ``sensor_msgs.msg.Image``, as the graph names types."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def policy_name(policy: ReliabilityPolicy) -> str:
    return policy.name.lower()


class AdaptiveSubscription:
    """A raw subscription whose reliability follows the topic's publishers.

    Call :meth:`refresh` periodically (the node does every second): it looks
    the publishers up and re-creates the subscription when they call for the
    other reliability. Raises ``ValueError`` at construction for contradictory
    settings.
    """

    def __init__(
        self,
        node: Node,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        mode: str,
        log: Callable[[str], None],
        on_lost: Callable[[int], None] | None = None,
    ) -> None:
        """``on_lost(n)``: ``n`` more samples lost in transport (where the RMW reports it:
        Fast DDS does when a best-effort frame's fragments do not all arrive)."""
        self.node, self.msg_type, self.callback, self.log = node, msg_type, callback, log
        self.on_lost = on_lost
        self.topic = node.resolve_topic_name(topic)
        self.forced = self._forced_reliability(mode)
        self.type_name = message_type_name(msg_type)
        self.publishers = 0
        self.best_effort_publishers = 0
        self.other_types: tuple[str, ...] = ()
        """Message types other publishers put on the topic (their frames never arrive)."""
        self.publishers_since: float | None = None
        """``time.monotonic()`` since when a publisher has been present."""
        found = self._publisher_policies()
        self.reliability = self.forced or reliability_for(found) or ReliabilityPolicy.BEST_EFFORT
        self._quick_until = 0.0
        self._quick = steady_timer(node, QUICK_CHECK_S, self._quick_check)
        self._quick.cancel()
        self.subscription = self._create()
        self._count(found)

    @property
    def topic_name(self) -> str:
        """The resolved topic (any thread: :meth:`refresh` may be replacing the subscription,
        whose handle is then already destroyed)."""
        return self.topic

    def refresh(self) -> None:
        """Match the publishers seen now; re-creates the subscription when needed."""
        found = self._publisher_policies()
        self._count(found)
        wanted = self.forced or reliability_for(found)
        if wanted is None or wanted == self.reliability:
            return
        self.node.destroy_subscription(self.subscription)
        self.reliability = wanted
        self.subscription = self._create()
        self.log(
            f"{self.topic}: subscription now {policy_name(wanted)} "
            f"({len(found)} publisher(s), {self.best_effort_publishers} best effort)"
        )

    def destroy(self) -> None:
        """Destroy the subscription and its timer (the node is cleaned up)."""
        self.node.destroy_timer(self._quick)
        self.node.destroy_subscription(self.subscription)

    def _publishers_changed(self, *_: Any) -> None:
        """A publisher matched or could not: look again soon (from the executor's timer,
        never from the subscription's own event callback, which :meth:`refresh` destroys)."""
        if self.forced is None:
            self._quick_until = time.monotonic() + QUICK_CHECK_FOR_S
            self._quick.reset()

    def _quick_check(self) -> None:
        before = self.publishers
        self.refresh()
        if self.publishers != before or time.monotonic() >= self._quick_until:
            self._quick.cancel()

    def _count(self, found: list[ReliabilityPolicy]) -> None:
        self.publishers = len(found)
        self.best_effort_publishers = sum(p != ReliabilityPolicy.RELIABLE for p in found)
        if not found:
            self.publishers_since = None
        elif self.publishers_since is None:
            self.publishers_since = time.monotonic()

    def _publisher_policies(self) -> list[ReliabilityPolicy]:
        """The reliability of each publisher of this subscription's type; notes the others."""
        infos = self.node.get_publishers_info_by_topic(self.topic)
        self.other_types = tuple(sorted({info.topic_type for info in infos
                                         if info.topic_type != self.type_name}))
        return [info.qos_profile.reliability for info in infos
                if info.topic_type == self.type_name]

    def _create(self) -> Any:
        qos = sensor_data_qos(self.reliability)
        # history and depth through the standard overrides (declared once, read again here)
        overrides = QoSOverridingOptions([QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH])
        events = SubscriptionEventCallbacks(
            incompatible_qos=self._on_incompatible_qos,
            message_lost=(lambda info: self.on_lost(info.total_count_change))
            if self.on_lost else None,
        )
        if hasattr(events, "matched"):  # Iron and later
            events.matched = self._publishers_changed
        try:
            return self.node.create_subscription(
                self.msg_type, self.topic, self.callback, qos,
                qos_overriding_options=overrides, raw=True, event_callbacks=events,
            )
        except UnsupportedEventTypeError:  # an RMW without message-lost events
            events.message_lost = None
            return self.node.create_subscription(
                self.msg_type, self.topic, self.callback, qos,
                qos_overriding_options=overrides, raw=True, event_callbacks=events,
            )

    def _on_incompatible_qos(self, event: Any) -> None:
        """A publisher the subscription cannot match: in auto mode the next :meth:`refresh`
        re-matches it (rclpy's default callback would warn that nothing will arrive)."""
        self._publishers_changed()
        if self.forced is not None:
            self.node.get_logger().warning(
                f"{self.topic}: a publisher's QoS does not match the "
                f"{policy_name(self.forced)} subscription set by the parameters, so no frame "
                "of it arrives (input_reliability:=auto follows the publishers)"
            )

    def _forced_reliability(self, mode: str) -> ReliabilityPolicy | None:
        """``input_reliability`` or the standard QoS override, whichever is set."""
        name = f"qos_overrides.{self.topic}.subscription.reliability"
        if self.node.has_parameter(name):  # a managed node configured a second time
            override = self.node.get_parameter(name).value
        else:
            override = self.node.declare_parameter(
                name, _NOT_SET,
                ParameterDescriptor(
                    description=f"reliability for subscription `{self.topic}`: reliable or "
                    "best_effort fix it; system_default leaves it to input_reliability",
                    read_only=True,
                ),
            ).value
        if override not in (_NOT_SET, *_POLICIES):
            raise ValueError(
                f"{name} must be reliable, best_effort or {_NOT_SET}, not {override!r}"
            )
        if override != _NOT_SET and mode not in ("auto", override):
            raise ValueError(
                f"input_reliability:={mode} contradicts {name}:={override}; set only one"
            )
        chosen = mode if mode != "auto" else override
        return _POLICIES.get(chosen)
