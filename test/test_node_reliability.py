"""Frames reach the node with its default settings, and /diagnostics says when they cannot.

Real DDS between processes with the RMW's defaults (no large-images profile):
a 640x480 and a 1024x2048 bgr8 camera, publishing reliable (as usb_cam and
realsense-ros do by default) and best effort. Before the node matched its
subscription to the publishers, a 640x480 camera delivered 0 of 20 frames
either way and /diagnostics said only "no images received yet".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import (
    DiagnosticsProbe,
    SpinningNode,
    camera_node,
    start_frame_counter,
    wait_for,
)
from sensor_msgs.msg import Image
from tiny_model import build_tiny_model

from fanet_ros.image_conversion import fill_image_msg

TIMEOUT = 20.0
OK, WARN, ERROR = 0, 1, 2
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
LOSS_REASONS = ("frames_lost_in_transport", "best_effort_nothing_arrives")


def camera_frame(height: int, width: int, stamp_ns: int, value: int | None = None) -> Image:
    rng = np.random.default_rng(stamp_ns)
    pixels = (rng.integers(0, 255, (height, width, 3), dtype=np.uint8) if value is None
              else np.full((height, width, 3), value, np.uint8))
    msg = Image()
    msg.header.frame_id = "camera"
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return fill_image_msg(msg, pixels, "bgr8", msg.header)


SMALL = (240, 320, 20, 10.0)
"""(height, width, frames, rate): 230,400-byte frames, which any transport carries."""
LARGE = ((480, 640, 20, 10.0), (1024, 2048, 10, 5.0))
"""921,600-byte and 6,291,456-byte frames: over Fast DDS's default 512 KiB segment."""


def publish_camera_stream(publisher, sizes) -> int:
    """Publish each ``(height, width, frames, rate)`` of ``sizes`` in turn; returns the count."""
    sent = 0
    for height, width, count, rate in sizes:
        frames = [camera_frame(height, width, 1_000_000_000 * (i + 1)) for i in range(2)]
        for i in range(count):
            publisher.publish(frames[i % 2])
            sent += 1
            time.sleep(1.0 / rate)
    return sent


@pytest.fixture(scope="module")
def default_node(ros_context, tmp_path_factory, tiny_model):
    """Node settings as shipped (the diagnostics period aside)."""
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/r")


def test_reliable_cameras_deliver_every_frame_then_best_effort_at_least_the_transports_share(
    default_node,
):
    proc, log = default_node
    topic = "/r/camera/image"
    with SpinningNode() as spinner:
        diag = DiagnosticsProbe(spinner.node, "/r/segmentation_node: segmentation")
        camera = spinner.node.create_publisher(Image, topic, RELIABLE)
        status = diag.status_after(
            lambda s: s["input_reliability"] == "reliable" and s["input_publishers"] == "1"
        )
        assert status, f"the node did not match a reliable camera: {diag.latest}"
        start = int(status["frames_received"])
        sent = publish_camera_stream(camera, LARGE)
        status = diag.status_after(lambda s: int(s["frames_received"]) >= start + sent)
        time.sleep(0.5)
        assert int(diag.latest["frames_received"]) - start == sent  # every frame, no more
        spinner.node.destroy_publisher(camera)
        assert diag.status_after(lambda s: s["input_publishers"] == "0")

        # the same camera, best effort: the node follows; the transport decides what arrives
        reference = start_frame_counter(topic, 30.0, "best_effort")  # until told to stop
        assert reference.stdout.readline().strip() == "subscribed"
        camera = spinner.node.create_publisher(Image, topic, qos_profile_sensor_data)
        assert wait_for(lambda: camera.get_subscription_count() == 2, TIMEOUT)
        status = diag.status_after(
            lambda s: s["input_reliability"] == "best_effort" and s["input_publishers"] == "1"
        )
        assert status, f"the node did not follow a best-effort camera: {diag.latest}"
        start = int(status["frames_received"])
        small_sent = publish_camera_stream(camera, [SMALL])
        small = settled_count(diag, "frames_received") - start
        sent = publish_camera_stream(camera, LARGE)
        received = settled_count(diag, "frames_received") - start - small  # in flight: in
        ref_small, ref_large = map(int, reference.communicate(timeout=30)[0].split())
        print(f"best effort: small {small} of {small_sent} (plain subscriber {ref_small}), "
              f"large {received} of {sent} (plain subscriber {ref_large})")
        # the node takes most of what the transport carried to a plain reader (a starved
        # machine loses best-effort frames for every reader alike; the node, whose executor
        # also runs the model, may lose a few more from its keep-last-5 queue while starved:
        # 17 against the reader's 20 in one CI run); it got none before it followed the camera
        assert small >= 0.5 * ref_small and ref_small >= 0.5 * small_sent
        # Which fragments of an oversized best-effort frame survive is the transport's draw,
        # independently per reader: of 30, the node got 3 where the plain subscriber got 7, and
        # 0 where it got 3. The node's own part is above (it follows the camera to best effort
        # and takes every frame the transport can carry) and below (it says why frames are
        # missing and what to change).
        assert received <= sent, (received, ref_large, sent)
        if received < sent:  # stock Fast DDS loses best-effort frames over 512 KiB
            said = [(level, message) for level, message, values in diag.seen
                    if values.get("health") in LOSS_REASONS]
            if not said:  # nothing lost was reported as it streamed: the silence is, later
                status = diag.status_after(lambda s: s["health"] in LOSS_REASONS, 10.0)
                said = [(diag.level, diag.message)] if status else []
            assert said, [m for _, m, _ in diag.seen[-5:]]
            level, message = said[-1]
            assert level == WARN and "fastdds_large_images.xml" in message, message
            assert "publish reliable" in message
            assert wait_for(lambda: "fastdds_large_images.xml" in log.read_text(), 5.0)
        spinner.node.destroy_publisher(camera)
    assert proc.poll() is None


def test_a_reliable_planner_gets_every_label_beside_rviz_on_the_camera_sized_outputs(
        default_node):
    """A planner on ~/label and rviz2 on ~/color and ~/overlay, all reliable, with Fast DDS's
    default transport. Kept one deep (before), label got 22-24 of 30 frames while
    /diagnostics counted 30 published: the colour images' pieces through the 512 KiB
    shared-memory segment pushed labels out before their repair. Kept five deep, the planner
    gets every label. (Colour and
    overlay, over the segment themselves, can still lose a frame or a few on a starved
    machine: the large-images profile is what delivers those, docs/node.md.)"""
    proc, _ = default_node
    outputs = ("label", "color", "overlay")
    frames = 20
    with SpinningNode() as spinner:
        diag = DiagnosticsProbe(spinner.node, "/r/segmentation_node: segmentation")
        got: dict[str, set[int]] = {name: set() for name in outputs}
        for name in outputs:
            spinner.node.create_subscription(
                Image, f"/r/segmentation_node/{name}",
                lambda msg, name=name: got[name].add(msg.header.stamp.sec), RELIABLE)
        camera = spinner.node.create_publisher(Image, "/r/camera/image", RELIABLE)
        assert diag.status_after(lambda s: s["input_publishers"] == "1"), diag.latest
        assert wait_for(lambda: all(spinner.node.count_publishers(
            f"/r/segmentation_node/{name}") == 1 for name in outputs), TIMEOUT)
        time.sleep(1.0)  # the node's writers match these readers
        start = {name: int(diag.latest.get(f"published_{name}", 0)) for name in outputs}
        for second in range(1000, 1000 + frames):
            camera.publish(camera_frame(480, 640, second * 1_000_000_000))
            time.sleep(0.2)
        published = {name: settled_count(diag, f"published_{name}") - start[name]
                     for name in outputs}  # the same frames: every output is subscribed
        wait_for(lambda: all(len(got[n]) >= published[n] for n in outputs), 10.0)
        received = {name: len(got[name]) for name in outputs}
        print(f"published {published}, received {received}")
        assert published["label"] >= frames - 2, published  # a frame or two may go stale
        assert received["label"] == published["label"], (published, received)
        spinner.node.destroy_publisher(camera)
    assert proc.poll() is None


def settled_count(diag: DiagnosticsProbe, key: str) -> int:
    """``key`` once two statuses in a row, both sent after this call, agree: what the node
    counted of a stream that has ended (a fixed sleep reads a status that may lag)."""
    since = len(diag.seen)

    def settled() -> int | None:
        values = [int(v[key]) for _, _, v in diag.seen[since:]]
        pairs = zip(values, values[1:])
        return next((a for a, b in pairs if a == b), None)

    count = wait_for(lambda: settled() is not None, 20.0) and settled()
    assert count is not None, f"{key} did not settle: {diag.seen[since:]}"
    return count


@pytest.fixture(scope="module")
def health_node(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/h",
                           input_timeout=1.0)


def test_diagnostics_warn_on_invalid_input_and_on_input_that_stopped(health_node):
    proc, _ = health_node
    with SpinningNode() as spinner:
        diag = DiagnosticsProbe(spinner.node, "/h/segmentation_node: segmentation")
        labels: list[Image] = []
        spinner.node.create_subscription(Image, "/h/segmentation_node/label", labels.append, 5)
        camera = spinner.node.create_publisher(Image, "/h/camera/image", RELIABLE)
        assert diag.status_after(lambda s: s["input_reliability"] == "reliable")

        def stream(seconds: float, bad: bool) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                msg = camera_frame(120, 160, time.time_ns())
                if bad:
                    msg.encoding = "32FC1"
                camera.publish(msg)
                time.sleep(0.1)

        # each state lasts about input_timeout after its stream: read from every status seen
        since = len(diag.seen)
        stream(1.6, bad=True)
        found = diag.seen_since(since, lambda s: s["health"] == "all_invalid", timeout=3.0)
        assert found, diag.seen[since:]
        level, message, status = found
        assert level == WARN, message
        assert "unsupported encoding '32FC1'" in status["last_error"]
        assert float(status["last_error_age_s"]) < 2.0
        assert status["frames_failed"] == "0"

        since = len(diag.seen)
        stream(1.6, bad=False)
        found = diag.seen_since(since, lambda s: s["health"] == "ok", timeout=3.0)
        assert found and found[0] == OK and labels, diag.seen[since:]
        since = len(diag.seen)
        stream(5.0, bad=False)  # a healthy period clears last_error
        assert diag.seen_since(since, lambda s: "last_error" not in s, timeout=3.0)

        status = diag.status_after(lambda s: s["health"] == "input_stopped", timeout=3.0)
        assert status and diag.level == WARN and "input stopped" in diag.message
    assert proc.poll() is None


def test_a_publisher_of_another_message_type_is_named_not_counted_as_the_camera(health_node):
    """``image:=/cam/image_raw/compressed`` without ``image_transport:=compressed``: the
    node counted the CompressedImage publisher as its camera and asked whether it streams."""
    from sensor_msgs.msg import CompressedImage

    proc, log = health_node
    with SpinningNode("wrong_type_camera") as spinner:
        diag = DiagnosticsProbe(spinner.node, "/h/segmentation_node: segmentation")
        spinner.node.create_publisher(CompressedImage, "/h/camera/image", RELIABLE)
        status = diag.status_after(lambda s: s["health"] == "wrong_message_type", TIMEOUT)
        assert status, diag.seen[-3:]
        assert status["input_publishers"] == "0" and diag.level == WARN
        assert ("/h/camera/image carries sensor_msgs/msg/CompressedImage, not "
                "sensor_msgs/msg/Image" in diag.message)
        assert "image_transport:=compressed the node reads <image>/compressed" in diag.message
        since = len(diag.seen)  # a lasting warning is logged when it starts, then every 30 s
        assert diag.seen_since(since + 2, lambda s: s["health"] == "wrong_message_type")
    assert log.read_text().count("carries sensor_msgs/msg/CompressedImage") == 1
    assert proc.poll() is None


def build_failing_model(path: Path) -> Path:
    """The tiny model plus a lookup that fails at run time for any frame with a pixel at
    255 (index 1 into a 1-element table): loads and passes the blank-frame check, then
    fails in the worker like a broken model or runtime would."""
    build_tiny_model(path)
    model = onnx.load(str(path))
    graph = model.graph
    graph_output = graph.output[0]
    graph.initializer.extend([numpy_helper.from_array(np.zeros(1, np.float32), "table"),
                              numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    graph.node.extend([
        helper.make_node("ReduceMax", ["image"], ["brightest"], keepdims=0),
        helper.make_node("Cast", ["brightest"], ["index"], to=onnx.TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["looked_up"]),
        helper.make_node("Mul", ["looked_up", "zero"], ["nothing"]),
        helper.make_node("Add", [graph_output.name, "nothing"], ["scores"]),
    ])
    graph_output.name = "scores"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def failing_node(ros_context, tmp_path_factory):
    model = build_failing_model(tmp_path_factory.mktemp("models") / "failing.onnx")
    yield from camera_node(tmp_path_factory.mktemp("node"), model, "/f", input_timeout=1.0)


def test_repeated_worker_failures_are_an_error_counted_apart_from_invalid_frames(failing_node):
    proc, log = failing_node
    with SpinningNode() as spinner:
        diag = DiagnosticsProbe(spinner.node, "/f/segmentation_node: segmentation")
        spinner.node.create_subscription(Image, "/f/segmentation_node/label", lambda m: None, 5)
        camera = spinner.node.create_publisher(Image, "/f/camera/image", RELIABLE)
        assert diag.status_after(lambda s: s["input_reliability"] == "reliable")
        for _ in range(6):
            camera.publish(camera_frame(120, 160, time.time_ns(), value=255))
            time.sleep(0.15)
        status = diag.status_after(lambda s: s["health"] == "worker_failing", timeout=5.0)
        assert status and diag.level == ERROR, (diag.message, diag.latest)
        assert int(status["frames_failed"]) >= 3 and status["frames_dropped_invalid"] == "0"
        assert "Gather" in status["last_error"] or "indices" in status["last_error"]
    assert "frame failed in the worker" in log.read_text()
    assert proc.poll() is None


@pytest.fixture(scope="module")
def sim_time_node(ros_context, tmp_path_factory, tiny_model):
    """``use_sim_time:=true`` and nobody publishes /clock: a bag played without ``--clock``,
    paused, or not started yet."""
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/st", use_sim_time=True)


def test_sim_time_without_a_clock_keeps_diagnostics_and_input_matching_running(sim_time_node):
    """ROS-clock timers would never fire here: no /diagnostics, and a reliable camera left on
    the best-effort subscription it had before anyone published."""
    with SpinningNode("sim_time_probe") as spinner:
        probe = DiagnosticsProbe(spinner.node, "/st/segmentation_node: segmentation")
        spinner.node.create_publisher(Image, "/st/camera/image", RELIABLE)
        status = probe.status_after(lambda s: s.get("input_reliability") == "reliable", TIMEOUT)
    assert status, f"no such status: {probe.seen}\n{sim_time_node.log.read_text()}"


def test_sim_time_frames_within_a_clock_step_are_timed_not_called_skew(sim_time_node):
    """``ros2 bag play --clock`` publishes /clock at 40 Hz, so the node's clock moves in 25 ms
    steps and a frame recorded just after a /clock message is stamped ahead of it: 47 of 60
    such frames were counted as clock skew, with its warning, and latency went unmeasured."""
    from rosgraph_msgs.msg import Clock
    from test_node import Client, camera_image, image_msg

    clock_ns = 1_000 * 1_000_000_000
    with SpinningNode("sim_clock_player") as spinner:
        clock_pub = spinner.node.create_publisher(Clock, "/clock", 10)

        def tick() -> None:
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(clock_ns, 1_000_000_000)
            clock_pub.publish(msg)

        spinner.node.create_timer(0.025, tick)
        client = Client(spinner, "/st", ("label",))
        client.wait_connected()
        seed = 0

        def timed() -> dict[str, str] | None:  # once the node's clock has /clock's time
            nonlocal seed
            seed += 1  # 20 ms after the clock's last step
            client.send_and_wait(image_msg(camera_image(seed), "rgb8", clock_ns + 20_000_000))
            status = client.last_status()
            return status if "latency_p50_ms" in status else None

        ahead = wait_for(timed, TIMEOUT)["frames_stamped_ahead"]
        for seed in range(100, 103):
            client.send_and_wait(image_msg(camera_image(seed), "rgb8", clock_ns + 20_000_000))
        status = client.status_after(lambda s: "latency_p50_ms" in s)
        assert status["frames_stamped_ahead"] == ahead
        client.send_and_wait(image_msg(camera_image(9), "rgb8", clock_ns + 5_000_000_000))
        assert client.status_after(lambda s: int(s["frames_stamped_ahead"]) == int(ahead) + 1)
