"""When a message reached this process: the middleware's reception time where rclpy reports it.

A callback runs when the executor gets to it, which is later than the message arrived while
the executor is busy (scoring a frame, another callback); latencies measured at callback time
then grow with the executor's backlog and depend on which callback runs first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.subscription import Subscription

WITH_MESSAGE_INFO = hasattr(Subscription, "CallbackType")
"""rclpy of Iron and later passes a ``MessageInfo`` to a callback that takes two arguments;
Humble's does not (there the callback's own time stands in)."""


def subscribe_with_arrival(node: Node, msg_type: Any, topic: str,
                           callback: Callable[[Any, int], None], qos: Any,
                           **options: Any) -> Subscription:
    """``callback(msg, received_ns)``: the system-clock nanoseconds at which the middleware
    received ``msg`` (``MessageInfo['received_timestamp']``), or, where rclpy or the RMW does
    not report it, the time the callback runs. ``options``: ``create_subscription``'s (e.g.
    ``qos_overriding_options``)."""
    if WITH_MESSAGE_INFO:
        def with_info(msg: Any, info: Any) -> None:
            callback(msg, info.get("received_timestamp") or time.time_ns())

        return node.create_subscription(msg_type, topic, with_info, qos, **options)
    return node.create_subscription(msg_type, topic, lambda msg: callback(msg, time.time_ns()),
                                    qos, **options)
