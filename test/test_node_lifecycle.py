"""segmentation_lifecycle_node through its lifecycle services and real topics: nothing is
published until it is configured and activated, deactivate silences it, cleanup releases its
topics, and a model that does not load fails configure without ending the process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import SpinningNode, exit_code, start_node_process, stop_process, wait_for
from std_msgs.msg import String
from test_node import TIMEOUT, Client, camera_image, image_msg

MODULE = "fanet_ros.node.segmentation_lifecycle_node"
NS = "/lc"
NODE = f"{NS}/segmentation_node"


class Lifecycle:
    """A client of a managed node's ``change_state`` and ``get_state`` services."""

    def __init__(self, node: Node, name: str) -> None:
        self._change = node.create_client(ChangeState, f"{name}/change_state")
        self._get = node.create_client(GetState, f"{name}/get_state")
        assert self._change.wait_for_service(timeout_sec=60.0), f"no {name}/change_state"
        assert self._get.wait_for_service(timeout_sec=60.0), f"no {name}/get_state"

    def _call(self, client, request, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # a reply can be lost until the server has
            future = client.call_async(request)  # matched our reply reader: ask again
            if wait_for(future.done, 5.0):
                return future.result()
            client.remove_pending_request(future)
        raise AssertionError(f"{client.srv_name} never replied")

    def state(self) -> str:
        return self._call(self._get, GetState.Request(), 30.0).current_state.label

    def change(self, transition: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition
        return self._call(self._change, request, 60.0).success


@pytest.fixture(scope="module")
def lifecycle_node(ros_context, tmp_path_factory, tiny_model):
    log = tmp_path_factory.mktemp("lifecycle") / "node.log"
    proc = start_node_process({"model_path": str(tiny_model), "diagnostics_period": 0.2},
                              remaps={"image": f"{NS}/camera/image"}, namespace=NS,
                              log_path=log, module=MODULE)
    yield proc, log
    assert stop_process(proc) == 0, log.read_text()


def inactive_status(diagnostics: list[DiagnosticArray], since: int) -> dict[str, str] | None:
    """The values of the first status of the node saying it is inactive, from the
    ``since``-th message on (waiting for it)."""
    def found() -> dict[str, str] | None:
        return next(({kv.key: kv.value for kv in s.values}
                     for array in diagnostics[since:] for s in array.status
                     if s.name == f"{NODE}: segmentation"
                     and s.message.startswith("inactive") and s.level == DiagnosticStatus.OK),
                    None)

    status = wait_for(found, TIMEOUT)
    assert status is None or status["lifecycle_state"] == "inactive"
    return status


def _labels_after_frames(client: Client, seconds: float, first_stamp_ns: int) -> int:
    """Frames for ``seconds``; how many labels came back for them."""
    stamps = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stamp_ns = first_stamp_ns + len(stamps)
        client.image_pub.publish(image_msg(camera_image(1), "rgb8", stamp_ns))
        stamps.add(divmod(stamp_ns, 1_000_000_000))
        time.sleep(0.1)
    time.sleep(0.5)
    return sum((m.header.stamp.sec, m.header.stamp.nanosec) in stamps
               for m in client.received["label"])


def test_outputs_flow_only_while_active(lifecycle_node):
    proc, log = lifecycle_node
    with SpinningNode() as spinner:
        node = spinner.node
        lifecycle = Lifecycle(node, NODE)
        assert lifecycle.state() == "unconfigured"
        assert node.count_publishers(f"{NODE}/label") == 0  # no topics before configure
        client = Client(spinner, NS, ("label",))
        label_infos: list[String] = []
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(String, f"{NODE}/label_info", label_infos.append, latched)
        diagnostics: list[DiagnosticArray] = []
        node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)

        assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == "inactive"
        assert wait_for(lambda: client.image_pub.get_subscription_count() > 0, TIMEOUT)
        assert wait_for(lambda: node.count_publishers(f"{NODE}/label") == 1, TIMEOUT)
        assert _labels_after_frames(client, 1.5, 1_000_000_000) == 0  # inactive: silent
        assert not label_infos
        assert inactive_status(diagnostics, since=0)  # /diagnostics says so, not stale

        assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == "active"
        client.wait_connected()
        assert client.send_and_wait(image_msg(camera_image(2), "rgb8", 2_000_000_000))
        assert wait_for(lambda: label_infos, TIMEOUT)
        assert json.loads(label_infos[0].data)["dataset"] == "camvid"
        assert wait_for(lambda: any(s.name == f"{NODE}: segmentation"  # the full status
                                    and any(kv.key == "health" for kv in s.values)
                                    for array in diagnostics for s in array.status), TIMEOUT)

        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.state() == "inactive"
        heard = len(diagnostics)
        assert _labels_after_frames(client, 1.5, 3_000_000_000) == 0
        assert inactive_status(diagnostics, since=heard)

        assert lifecycle.change(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == "unconfigured"
        assert wait_for(lambda: node.count_publishers(f"{NODE}/label") == 0, TIMEOUT)
        assert wait_for(lambda: client.image_pub.get_subscription_count() == 0, TIMEOUT)

        # configured and activated again: the same model, frames flow again
        assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
        client.wait_connected()
        assert client.send_and_wait(image_msg(camera_image(3), "rgb8", 4_000_000_000))

        assert lifecycle.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert lifecycle.state() == "finalized"
        assert wait_for(lambda: node.count_publishers(f"{NODE}/label") == 0, TIMEOUT)
    assert proc.poll() is None  # finalized, still answering: Ctrl-C ends it (exit 0)
    assert "Traceback" not in log.read_text()


def test_a_model_that_does_not_load_fails_configure_and_the_node_stays(ros_context, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    log = tmp_path / "node.log"
    proc = start_node_process({"model_path": str(broken)}, namespace="/lcb", log_path=log,
                              module=MODULE)
    try:
        with SpinningNode() as spinner:
            lifecycle = Lifecycle(spinner.node, "/lcb/segmentation_node")
            assert not lifecycle.change(Transition.TRANSITION_CONFIGURE)
            assert lifecycle.state() == "unconfigured"
        assert proc.poll() is None
        text = log.read_text()
        assert "configure failed" in text and str(broken) in text
    finally:
        assert stop_process(proc) == 0, log.read_text()


def test_bad_parameters_stop_the_process_at_start(tmp_path: Path):
    log = tmp_path / "node.log"
    proc = start_node_process({"backend": "cuda"}, log_path=log, module=MODULE)
    assert exit_code(proc, 60.0) == 1, log.read_text()
    assert "backend must be one of" in log.read_text()


def _in_process(context, tiny_model, *params: str):
    from fanet_ros.node.segmentation_lifecycle_node import SegmentationLifecycleNode

    args = ["--ros-args", "-p", f"model_path:={tiny_model}", "-r", "image:=/lci/image"]
    for param in params:
        args += ["-p", param]
    return SegmentationLifecycleNode(context=context, cli_args=args)


def test_a_worker_that_outlives_deactivate_is_never_joined_by_a_second(
    own_ros_context, tiny_model, monkeypatch
):
    """An inference longer than the deactivate wait: activate is refused until it ends, and
    the old worker never resumes beside a new one."""
    import threading

    from fanet_ros.node import segmentation_core

    monkeypatch.setattr(segmentation_core, "WORKER_JOIN_S", 0.2)
    node = _in_process(own_ros_context, tiny_model)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        release, started = threading.Event(), threading.Event()

        def long_inference(*_):
            started.set()
            release.wait(10.0)

        node.channels[""].prepare = long_inference
        node._slots.put("", (b"", 0.0, 0))  # a frame for the worker to take
        assert started.wait(5.0)
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node._worker_running()
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE  # still inactive
        release.set()
        assert wait_for(lambda: not node._worker_running(), 5.0)
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        workers = [t for t in threading.enumerate() if t.name == "segmentation"]
        assert len(workers) == 1
    finally:
        node.destroy_node()


def test_settings_and_topics_survive_cleanup_and_failed_configures(own_ros_context, tiny_model):
    from rclpy.parameter import Parameter

    node = _in_process(own_ros_context, tiny_model)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.set_parameters([Parameter("overlay_alpha", value=0.9)])[0].successful
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert not [p for p in node.publishers if p.topic_name.startswith("/segmentation_node/")]
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.channels[""].pipeline.overlay_alpha == 0.9  # the value set at run time
    finally:
        node.destroy_node()
    # a configure that fails part way (the image subscription's settings contradict each
    # other) leaves nothing behind, however often it is tried
    node = _in_process(own_ros_context, tiny_model, "input_reliability:=reliable",
                       "qos_overrides./lci/image.subscription.reliability:=best_effort")
    try:
        before = len(list(node.publishers))
        for _ in range(3):
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert len(list(node.publishers)) == before
        assert not list(node.subscriptions) and not list(node.timers)
    finally:
        node.destroy_node()


def test_a_cleanup_lets_another_model_and_size_be_set_for_the_next_configure(
        own_ros_context, tiny_model, tmp_path):
    """The managed-node workflow: cleanup, set parameters, configure. Configure-time parameters
    are refused while configured, taken while unconfigured; the model's class parameters follow
    the new model; a combination that does not hold fails configure, and the node stays."""
    from rclpy.parameter import Parameter
    from tiny_model import build_tiny_model

    from fanet_ros.labels import CITYSCAPES

    other = build_tiny_model(tmp_path / "cityscapes.onnx", label_set=CITYSCAPES)
    node = _in_process(own_ros_context, tiny_model)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        refused = node.set_parameters([Parameter("model_path", value=str(other))])[0]
        assert not refused.successful and "unconfigured" in refused.reason
        refused = node.set_parameters([Parameter("class_names", value=["x"])])[0]
        assert not refused.successful and "from the model" in refused.reason
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS

        assert all(r.successful for r in node.set_parameters([
            Parameter("model_path", value=str(other)), Parameter("input_height", value=128),
            Parameter("input_width", value=160)]))
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.get_parameter("class_names").value == list(CITYSCAPES.class_names)
        assert (node.backend.input_height, node.backend.input_width) == (128, 160)
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS

        assert node.set_parameters([Parameter("input_width", value=0)])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # height alone
        assert node.segmenter is None and not list(node.subscriptions)
        assert node.set_parameters([Parameter("input_height", value=0)])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS

        # two cameras, then back to one: `ros2 param set ... cameras "[]"` sends a bool array
        assert node.set_parameters([Parameter("cameras", value=["front", "rear"])])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert sorted(node.channels) == ["front", "rear"]
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        refused = node.set_parameters([Parameter("cameras", value=[1, 2])])[0]
        assert not refused.successful and "must be a list of names" in refused.reason
        back = Parameter("cameras", Parameter.Type.BOOL_ARRAY, [])
        assert node.set_parameters([back])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert list(node.channels) == [""]
    finally:
        node.destroy_node()
