"""No request another DDS participant sends can stop the node, and no failing callback can.

A ``SetParameters`` / ``SetParametersAtomically`` request with a ``ParameterValue.type``
outside 0..9 made rclpy's parameter service raise ``ValueError`` out of ``rclpy.spin``: the
node exited 1 (6 of 6). A parameter named ``""`` was reported as set.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import (
    DiagnosticsProbe,
    SpinningNode,
    running_node,
    wait_for,
    wait_for_service_replies,
)
from sensor_msgs.msg import Image
from std_msgs.msg import String

from fanet_ros.image_conversion import fill_image_msg
from fanet_ros.node.callback_guard import CallbackFailures, GuardedExecutor

TIMEOUT = 20.0
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
KEEP_ALL = QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL,
                      reliability=ReliabilityPolicy.RELIABLE)
MALFORMED = [
    Parameter(name="overlay_alpha", value=ParameterValue(type=bad, double_value=0.2))
    for bad in (10, 77, 255)
] + [Parameter(name="", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                             double_value=0.2))]


def _frame(stamp_s: int) -> Image:
    msg = Image()
    msg.header.stamp.sec = stamp_s
    pixels = np.random.default_rng(stamp_s).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return fill_image_msg(msg, pixels, "bgr8", msg.header)


def _call(client, request):
    future = client.call_async(request)
    assert wait_for(future.done, TIMEOUT), f"no response to {request}"
    return future.result()


def test_malformed_parameter_requests_are_refused_and_the_node_keeps_serving(
    ros_context, tmp_path, tiny_model
):
    log = tmp_path / "node.log"
    ns = "/requests"
    with running_node({"model_path": str(tiny_model), "diagnostics_period": 0.2}, log,
                      remaps={"image": f"{ns}/camera/image"}, namespace=ns) as (proc, _):
        with SpinningNode() as spinner:
            node = spinner.node
            diag = DiagnosticsProbe(node, f"{ns}/segmentation_node: segmentation")
            labels: list[int] = []
            node.create_subscription(Image, f"{ns}/segmentation_node/label",
                                     lambda m: labels.append(m.header.stamp.sec), RELIABLE)
            camera = node.create_publisher(Image, f"{ns}/camera/image", RELIABLE)
            clients = {
                kind: node.create_client(kind, f"{ns}/segmentation_node/{name}")
                for kind, name in ((SetParameters, "set_parameters"),
                                   (SetParametersAtomically, "set_parameters_atomically"))
            }
            for client in clients.values():
                wait_for_service_replies(client, TIMEOUT)

            refused = 0
            for param in MALFORMED:
                result = _call(clients[SetParameters], SetParameters.Request(parameters=[param]))
                assert [r.successful for r in result.results] == [False], result
                assert result.results[0].reason, result
                result = _call(clients[SetParametersAtomically],
                               SetParametersAtomically.Request(parameters=[param]))
                assert not result.result.successful and result.result.reason, result
                refused += 2
                assert proc.poll() is None, log.read_text()
            # a malformed entry beside a good one: the good one is still set
            good = Parameter(name="overlay_alpha", value=ParameterValue(
                type=ParameterType.PARAMETER_DOUBLE, double_value=0.3))
            result = _call(clients[SetParameters],
                           SetParameters.Request(parameters=[MALFORMED[1], good]))
            assert [r.successful for r in result.results] == [False, True], result
            refused += 1

            # the node still serves frames and /diagnostics counts the refusals
            assert wait_for(lambda: camera.get_subscription_count() == 1, TIMEOUT)
            stamp = 1

            def frame_through() -> bool:
                nonlocal stamp
                stamp += 1
                camera.publish(_frame(stamp))
                return wait_for(lambda: labels, 0.5)

            assert wait_for(frame_through, TIMEOUT), log.read_text()
            status = diag.status_after(
                lambda s: int(s.get("parameter_requests_refused", 0)) >= refused)
            assert int(status["parameter_requests_refused"]) == refused, diag.latest
            assert "not a rcl_interfaces/ParameterType" in status[
                "parameter_requests_refused_last"] or "empty" in status[
                "parameter_requests_refused_last"]
            assert status["callback_failures"] == "0"
            assert proc.poll() is None
        text = log.read_text()
        assert "Traceback" not in text and "refused" in text, text


def test_guarded_executor_counts_a_failing_callback_and_keeps_spinning(ros_context):
    """A real subscription whose callback raises on some messages, spun by the executor
    the nodes use: every message is still handled, each failure counted and named."""
    lines: list[str] = []
    failures = CallbackFailures(lines.append)
    node = Node("guard_test")
    handled: list[str] = []

    def on_message(msg: String) -> None:
        if msg.data.startswith("bad"):
            raise ValueError(f"cannot handle {msg.data}")
        handled.append(msg.data)

    node.create_subscription(String, "guard_test/topic", on_message, KEEP_ALL)
    executor = GuardedExecutor(failures)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        with SpinningNode("guard_test_publisher") as other:
            publisher = other.node.create_publisher(String, "guard_test/topic", KEEP_ALL)
            assert wait_for(lambda: publisher.get_subscription_count() == 1, TIMEOUT)
            for i in range(3):
                publisher.publish(String(data=f"bad {i}"))
                publisher.publish(String(data=f"good {i}"))
            assert wait_for(lambda: len(handled) == 3 and failures.total == 3, TIMEOUT), (
                handled, failures.snapshot())
    finally:
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        node.destroy_node()
    assert not spinner.is_alive()
    assert failures.by_callback == {"subscription /guard_test/topic": 3}
    last = failures.snapshot()[1]
    assert last == "subscription /guard_test/topic: ValueError: cannot handle bad 2"
    assert len(lines) == 1 and "ValueError: cannot handle bad 0" in lines[0], lines  # throttled


def test_guarded_executor_ends_when_the_context_is_shut_down_behind_its_back():
    """rclpy's SIGINT thread wakes executors, then shuts the contexts down: an executor that
    woke and waited again between the two (a loaded machine) is never woken again. Spin
    must end anyway, even on a node with nothing to wake it (a finalized lifecycle node)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("guard_shutdown_test", context=context)
    executor = GuardedExecutor(CallbackFailures(print), context=context)
    executor.add_node(node)
    ended: list[str] = []

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:  # as run_node expects it
            ended.append("external shutdown")

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        time.sleep(0.3)  # spinning: waiting on a wait set that nothing will trigger
        with context.handle:
            context.handle.shutdown()  # what rclpy's signal thread does: no Python callbacks
        spinner.join(timeout=3.0)
        assert not spinner.is_alive(), "spin still waits after the context shut down"
        assert ended == ["external shutdown"]
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        context.try_shutdown()
