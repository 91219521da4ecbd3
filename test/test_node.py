"""segmentation_node through real DDS: a node process, this process publishing and listening."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import serialize_message
from ros_harness import (
    SpinningNode,
    camera_node,
    exit_code,
    running_node,
    start_node_process,
    wait_for,
    wait_for_service_replies,
)
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from fanet_ros.image_conversion import fill_image_msg, image_from_msg
from fanet_ros.launching.launch_arguments import QOS_FROM_XML, profile_variables
from fanet_ros.preprocessing import resize_labels
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline

CAMERA_H, CAMERA_W = 120, 160
TIMEOUT = 20.0


def camera_image(seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (CAMERA_H // 8, CAMERA_W // 8, channels), dtype=np.uint8)
    image = cv2.resize(base, (CAMERA_W, CAMERA_H), interpolation=cv2.INTER_LINEAR)
    return image.reshape(CAMERA_H, CAMERA_W, channels)


def image_msg(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = "cam") -> Image:
    msg = Image()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return fill_image_msg(msg, pixels, encoding, msg.header)


class Client:
    """Publishes camera frames and records what the node sends back."""

    def __init__(self, spinner: SpinningNode, ns: str, outputs: tuple[str, ...]) -> None:
        node = spinner.node
        self.node = node
        self.status_name = f"{ns}/segmentation_node: segmentation"
        self.received: dict[str, list[Image]] = {name: [] for name in outputs}
        self.diagnostics: list[DiagnosticArray] = []
        for name in outputs:
            node.create_subscription(
                Image, f"{ns}/segmentation_node/{name}",
                lambda m, name=name: self.received[name].append(m), 50,
            )
        node.create_subscription(
            DiagnosticArray, "/diagnostics", self.diagnostics.append, 10
        )
        self.image_pub = node.create_publisher(Image, f"{ns}/camera/image", qos_profile_sensor_data)
        self.compressed_pub = node.create_publisher(
            CompressedImage, f"{ns}/camera/image/compressed", qos_profile_sensor_data
        )

    def wait_connected(self, transport: str = "raw") -> None:
        """Until the node answers on every output we subscribe to: one warm-up frame per
        output, sent until it comes back. Our side seeing the match proves nothing about
        the node's, and a node that does not see a subscriber skips frames as unwatched."""
        blank = np.zeros((CAMERA_H, CAMERA_W, 3), np.uint8)  # what every test model takes
        stamp_ns = time.time_ns()  # now: no test sends it, and latencies stay true
        if transport == "raw":
            pub = self.image_pub
            warm_up = image_msg(blank, "rgb8", stamp_ns)
        else:
            pub = self.compressed_pub
            ok, encoded = cv2.imencode(".png", blank)
            assert ok
            warm_up = CompressedImage(format="png", data=encoded.tobytes())
            warm_up.header.stamp.sec, warm_up.header.stamp.nanosec = divmod(
                stamp_ns, 1_000_000_000)
        assert wait_for(lambda: pub.get_subscription_count() > 0, TIMEOUT)
        for output in self.received:
            self.send_and_wait(warm_up, output, pub)
        for frames in self.received.values():
            frames.clear()

    def send_and_wait(self, msg: Image | CompressedImage, output: str = "label",
                      pub: Publisher | None = None) -> Image:
        """Publish until an output with this stamp arrives (best-effort input may drop)."""
        pub = pub or self.image_pub
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)

        def match() -> Image | None:
            for out in self.received[output]:
                if (out.header.stamp.sec, out.header.stamp.nanosec) == stamp:
                    return out
            return None

        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            pub.publish(msg)
            found = wait_for(match, 1.0)
            if found:
                return found
        raise AssertionError(f"no {output} for stamp {stamp}")

    def last_status(self) -> dict[str, str]:
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == self.status_name:
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def status_after(self, predicate, timeout: float = TIMEOUT) -> dict[str, str]:
        return wait_for(lambda: (s := self.last_status()) and predicate(s) and s, timeout)


@pytest.fixture(scope="module")
def node_input_res(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/a")


@pytest.fixture(scope="module")
def node_model_res(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/b",
                           output_resolution="model")


@pytest.fixture(scope="module")
def node_compressed(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/c",
                           image_transport="compressed")


@pytest.fixture(scope="module")
def reference(tiny_model) -> SegmentationPipeline:
    """The same model run directly, as a user would without ROS."""
    return SegmentationPipeline(OnnxRuntimeBackend(tiny_model))


def test_labels_equal_direct_model_run_at_model_resolution(node_model_res, reference):
    with SpinningNode() as spinner:
        client = Client(spinner, "/b", ("label",))
        client.wait_connected()
        for seed, encoding in ((1, "rgb8"), (2, "bgr8")):
            pixels = camera_image(seed)
            msg = image_msg(pixels, encoding, stamp_ns=1_000_000_000 + seed)
            out = client.send_and_wait(msg)
            expected = reference.predict(image_from_msg(msg))
            got = image_from_msg(out).pixels[:, :, 0]
            assert out.encoding == "mono8"
            assert got.shape == (64, 96)
            np.testing.assert_array_equal(got, expected)


def test_outputs_carry_input_header_encoding_and_resolution(node_input_res, reference):
    with SpinningNode() as spinner:
        client = Client(spinner, "/a", ("label", "color", "overlay"))
        client.wait_connected()
        pixels = camera_image(3)
        msg = image_msg(pixels, "bgr8", stamp_ns=2_000_000_123, frame_id="front_camera")
        label = client.send_and_wait(msg, "label")
        color = client.send_and_wait(msg, "color")
        overlay = client.send_and_wait(msg, "overlay")
        for out, encoding in ((label, "mono8"), (color, "bgr8"), (overlay, "bgr8")):
            assert out.header.frame_id == "front_camera"
            assert (out.header.stamp.sec, out.header.stamp.nanosec) == (2, 123)
            assert (out.height, out.width, out.encoding) == (CAMERA_H, CAMERA_W, encoding)
        labels = image_from_msg(label).pixels[:, :, 0]
        expected = resize_labels(reference.predict(image_from_msg(msg)), CAMERA_H, CAMERA_W)
        np.testing.assert_array_equal(labels, expected)
        bgr_palette = np.asarray(reference.metadata.colors, dtype=np.uint8)[:, ::-1]
        np.testing.assert_array_equal(image_from_msg(color).pixels, bgr_palette[labels])


def test_compressed_overlay_for_viewers_on_another_machine(node_input_res):
    """~/overlay/compressed: JPEG of the overlay with the input's header and image_transport's
    format string, so rviz2's compressed transport shows it; diagnostics count it."""
    with SpinningNode() as spinner:
        client = Client(spinner, "/a", ("overlay",))
        compressed: list[CompressedImage] = []
        spinner.node.create_subscription(CompressedImage, "/a/segmentation_node/overlay/compressed",
                                         compressed.append, 10)
        client.wait_connected()
        msg = image_msg(camera_image(5), "rgb8", stamp_ns=2_500_000_007, frame_id="front_camera")
        overlay = client.send_and_wait(msg, "overlay")
        jpeg = wait_for(lambda: next((m for m in compressed if (
            m.header.stamp.sec, m.header.stamp.nanosec) == (2, 500_000_007)), None), TIMEOUT)
        assert jpeg, "no ~/overlay/compressed for the frame"
        assert jpeg.header.frame_id == "front_camera"
        assert jpeg.format == "rgb8; jpeg compressed bgr8"
        decoded = cv2.imdecode(np.frombuffer(bytes(jpeg.data), np.uint8), cv2.IMREAD_COLOR)
        raw = image_from_msg(overlay).pixels[:, :, ::-1].astype(np.int16)  # rgb8 -> bgr
        assert decoded.shape == raw.shape
        assert np.abs(decoded - raw).mean() < 8.0  # lossy, but the same picture
        assert client.status_after(lambda s: int(s["published_overlay_compressed"]) > 0)


def test_input_encodings(node_input_res):
    with SpinningNode() as spinner:
        client = Client(spinner, "/a", ("label", "overlay"))
        client.wait_connected()
        for i, (encoding, channels, overlay_encoding) in enumerate(
            (("rgba8", 4, "rgb8"), ("bgra8", 4, "bgr8"), ("mono8", 1, "rgb8"), ("rgb8", 3, "rgb8"),
             ("bayer_grbg8", 1, "bgr8"), ("yuv422", 2, "bgr8"))  # the last two: converted
        ):
            msg = image_msg(camera_image(10 + i, channels), encoding, stamp_ns=3_000_000_000 + i)
            assert client.send_and_wait(msg, "label").encoding == "mono8"
            assert client.send_and_wait(msg, "overlay").encoding == overlay_encoding


def test_outputs_without_subscribers_are_not_computed(node_input_res):
    with SpinningNode() as spinner:
        client = Client(spinner, "/a", ("label",))
        client.wait_connected()
        # the previous test's colour subscriber must be gone from the node's view first:
        # frames until two in a row pass without a colour image
        before = client.status_after(lambda s: "published_color" in s)
        settled = 0
        for i in range(40):
            client.send_and_wait(image_msg(camera_image(19), "rgb8", 3_900_000_000 + i))
            now = client.status_after(
                lambda s, before=before: int(s["published_label"]) > int(before["published_label"]))
            settled = settled + 1 if now["published_color"] == before["published_color"] else 0
            before = now
            if settled == 2:
                break
        for i in range(5):
            client.send_and_wait(image_msg(camera_image(20 + i), "rgb8", 4_000_000_000 + i))
        after = client.status_after(
            lambda s: int(s["published_label"]) >= int(before["published_label"]) + 5
        )
        assert after["published_color"] == before["published_color"]
        assert after["published_overlay"] == before["published_overlay"]
    # nobody listens now: frames are skipped, nothing is published
    with SpinningNode("diag_only") as spinner:
        diag: list[DiagnosticArray] = []
        spinner.node.create_subscription(DiagnosticArray, "/diagnostics", diag.append, 10)
        pub = spinner.node.create_publisher(Image, "/a/camera/image", qos_profile_sensor_data)
        assert wait_for(lambda: pub.get_subscription_count() > 0, TIMEOUT)
        probe = Client.__new__(Client)
        probe.diagnostics, probe.status_name = diag, "/a/segmentation_node: segmentation"
        first = probe.status_after(lambda s: True)

        def skipping() -> dict[str, str] | None:  # the label subscriber is gone for the node
            pub.publish(image_msg(camera_image(30), "rgb8", 4_900_000_000))
            status = probe.last_status()
            skipped = "frames_skipped_no_subscribers"
            return status and int(status[skipped]) > int(first[skipped]) and status

        start = wait_for(skipping, TIMEOUT, interval=0.2)
        assert start, "frames were not skipped with nobody subscribed"
        for i in range(20):
            pub.publish(image_msg(camera_image(30), "rgb8", 5_000_000_000 + i))
            time.sleep(0.02)
        end = probe.status_after(
            lambda s: int(s["frames_skipped_no_subscribers"])
            > int(start["frames_skipped_no_subscribers"])
        )
        assert end["frames_published"] == start["frames_published"]


def test_diagnostics_report_rates_latency_and_model(node_input_res):
    with SpinningNode() as spinner:
        client = Client(spinner, "/a", ("label",))
        client.wait_connected()
        for i in range(3):
            msg = image_msg(camera_image(40 + i), "rgb8", 0)
            msg.header.stamp = spinner.node.get_clock().now().to_msg()
            client.send_and_wait(msg)
        status = client.status_after(lambda s: "latency_p95_ms" in s)
        for key in ("backend", "model", "input_rate_hz", "output_rate_hz", "frames_dropped_stale",
                    "frames_dropped_invalid", "latency_p50_ms", "latency_p99_ms",
                    "stage_inference_ms", "stage_preprocess_ms"):
            assert key in status, key
        assert status["backend"] == "onnxruntime"
        assert status["model"] == "tiny/camvid"
        assert 0.0 < float(status["latency_p50_ms"]) < 10_000


def bad_messages() -> list[tuple[str, Image]]:
    good = camera_image(50)
    cases = []
    msg = image_msg(good, "rgb8", 1)
    msg.encoding = "32FC1"
    cases.append(("unsupported encoding", msg))
    msg = image_msg(good, "rgb8", 2)
    msg.step = 10
    cases.append(("step too small", msg))
    msg = image_msg(good, "rgb8", 3)
    msg.data = msg.data[: len(msg.data) // 2]
    cases.append(("truncated", msg))
    msg = image_msg(good, "rgb8", 4)
    msg.height = msg.width = 0
    msg.data = []
    cases.append(("zero size", msg))
    msg = image_msg(good, "rgb8", 5)
    msg.encoding = ""
    cases.append(("empty encoding", msg))
    return cases


def test_bad_frames_are_dropped_counted_and_the_node_keeps_running(node_input_res):
    with SpinningNode() as spinner:
        client = Client(spinner, "/a", ("label",))
        client.wait_connected()
        first = client.status_after(lambda s: True)
        counted = int(first["frames_dropped_invalid"])

        def drop(data: Image | bytes) -> dict[str, str]:
            """Publish ``data`` until the node counts it invalid (the input is best effort);
            one frame at a time, as the newest frame would otherwise win."""
            def counted_now() -> dict[str, str] | None:
                client.image_pub.publish(data)
                status = client.last_status()
                return status and int(status["frames_dropped_invalid"]) > counted and status

            status = wait_for(counted_now, TIMEOUT, interval=0.5)
            assert status, f"{data!r:.80} was not counted as invalid"
            return status

        for _, msg in bad_messages():
            after = drop(msg)
            counted = int(after["frames_dropped_invalid"])
        assert "the encoding field is empty" in after["last_error"]  # the last case
        assert "last_error_age_s" in after
        # bytes that are no Image at all (big-endian CDR header, then garbage): bad input,
        # not a worker failure
        after = drop(b"\x00\x00\x00\x00" + bytes(range(7, 200)))
        counted = int(after["frames_dropped_invalid"])
        assert "cannot deserialize" in after["last_error"]
        assert "encapsulation 0x0000 (CDR big-endian)" in after["last_error"]
        assert after["frames_failed"] == first["frames_failed"] == "0"
        # an XCDR2 header (0x0007) before an Image without encoding: both named
        msg = image_msg(camera_image(52), "rgb8", 7)
        msg.encoding = ""
        after = drop(b"\x00\x07" + serialize_message(msg)[2:])
        assert "0x0007" in after["last_error"]
        assert "the encoding field is empty" in after["last_error"]
        assert "XCDR2 little-endian" in after["last_error"]
        out = client.send_and_wait(image_msg(camera_image(51), "rgb8", 6_000_000_000))
        assert out.encoding == "mono8"
    assert node_input_res.proc.poll() is None


def test_compressed_input_and_corrupt_compressed_frames(node_compressed):
    with SpinningNode() as spinner:
        client = Client(spinner, "/c", ("label",))
        client.wait_connected("compressed")
        for i, fmt in enumerate(("jpeg", "png")):
            msg = CompressedImage(format=fmt)
            msg.header.stamp.sec = 100 + i
            ok, encoded = cv2.imencode(f".{'jpg' if fmt == 'jpeg' else 'png'}", camera_image(60))
            assert ok
            msg.data = encoded.tobytes()
            def answered(msg=msg):
                client.compressed_pub.publish(msg)
                sec = msg.header.stamp.sec
                return [o for o in client.received["label"] if o.header.stamp.sec == sec]

            got = wait_for(answered, TIMEOUT, interval=0.3)
            assert got and (got[0].height, got[0].width) == (CAMERA_H, CAMERA_W)
        corrupt = CompressedImage(format="jpeg", data=b"\xff\xd8 not really a jpeg")
        client.compressed_pub.publish(corrupt)
        status = client.status_after(lambda s: int(s["frames_dropped_invalid"]) >= 1)
        assert "corrupt" in status["last_error"]
    assert node_compressed.proc.poll() is None


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_compressed_frame_over_the_decoded_size_limit_is_dropped_before_decoding(
    node_compressed,
):
    """A 64 MB 8000x8000 mono image in a 62 KB PNG: over the default 16 MP, never decoded."""
    ok, png = cv2.imencode(".png", np.zeros((8000, 8000), np.uint8))
    assert ok and png.nbytes < 100_000
    with SpinningNode() as spinner:
        client = Client(spinner, "/c", ("label",))
        client.wait_connected("compressed")
        before = client.status_after(lambda s: "frames_dropped_too_large" in s)
        rss_before = _rss_mib(node_compressed.proc.pid)
        client.compressed_pub.publish(CompressedImage(format="png", data=png.tobytes()))
        after = client.status_after(lambda s: int(s["frames_dropped_too_large"])
                                    > int(before["frames_dropped_too_large"]))
        assert after, "the oversized frame was not counted"
        error = after["last_error"]
        assert "8000x8000" in error and "max_decoded_megapixels" in error
        assert int(after["frames_dropped_invalid"]) > int(before["frames_dropped_invalid"])
        assert _rss_mib(node_compressed.proc.pid) - rss_before < 32  # decoding would add 64 MiB
    assert node_compressed.proc.poll() is None


def test_class_info_is_latched_and_read_only(node_input_res, reference):
    with SpinningNode() as spinner:
        received: list[String] = []
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        spinner.node.create_subscription(
            String, "/a/segmentation_node/label_info", received.append, latched
        )
        assert wait_for(lambda: received, TIMEOUT), "late subscriber got no label_info"
        info = json.loads(received[0].data)
        assert [c["name"] for c in info["classes"]] == list(reference.metadata.class_names)
        assert info["ignore_label"] == 255

        get = spinner.node.create_client(GetParameters, "/a/segmentation_node/get_parameters")
        setp = spinner.node.create_client(SetParameters, "/a/segmentation_node/set_parameters")
        wait_for_service_replies(get, TIMEOUT)
        wait_for_service_replies(setp, TIMEOUT)
        future = get.call_async(GetParameters.Request(names=["class_names", "class_colors"]))
        assert wait_for(future.done, TIMEOUT)
        names, colors = future.result().values
        assert list(names.string_array_value) == list(reference.metadata.class_names)
        assert colors.string_array_value[0] == "#{:02x}{:02x}{:02x}".format(
            *reference.metadata.colors[0]
        )
        request = SetParameters.Request(parameters=[
            Parameter("class_names", value=["x"]).to_parameter_msg(),
            Parameter("overlay_alpha", value=2.0).to_parameter_msg(),
            Parameter("overlay_alpha", value=0.3).to_parameter_msg(),
        ])
        future = setp.call_async(request)
        assert wait_for(future.done, TIMEOUT)
        results = future.result().results
        assert not results[0].successful  # read-only
        assert not results[1].successful and "overlay_alpha" in results[1].reason
        assert results[2].successful


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "does not exist"), (b"this is not an onnx file", "not a loadable ONNX model")],
)
def test_missing_or_corrupt_model_stops_startup_with_a_clear_error(tmp_path, content, expected):
    model = tmp_path / "model.onnx"
    if content is not None:
        model.write_bytes(content)
    log = tmp_path / "log.txt"
    proc = start_node_process({"model_path": str(model)}, log_path=log)
    assert exit_code(proc) == 1
    text = log.read_text()
    assert str(model) in text and expected in text
    assert "fanet-export" in text  # says how to get a model


def test_invalid_parameters_stop_startup(tmp_path, tiny_model):
    log = tmp_path / "log.txt"
    proc = start_node_process(
        {"model_path": str(tiny_model), "backend": "cuda", "input_height": 100}, log_path=log
    )
    assert exit_code(proc) == 1
    text = log.read_text()
    assert "backend must be one of" in text
    assert "input_height" in text


def test_node_serves_camera_sized_images_under_the_large_images_dds_profile(
    ros_context, tmp_path, tiny_model
):
    """config/fastdds_large_images.xml parses (Fast DDS says nothing) and 6 MB images flow.

    The input is reliable: this test process runs without the profile, and a
    best-effort 6 MB image through Fast DDS's default 512 KiB segment is lost.
    """
    profile = Path(__file__).resolve().parent.parent / "config" / "fastdds_large_images.xml"
    log = tmp_path / "node.log"
    with running_node(
        {"model_path": str(tiny_model),
         "qos_overrides./p/camera/image.subscription.reliability": "reliable"},
        log, remaps={"image": "/p/camera/image"}, namespace="/p",
        env={**dict.fromkeys(profile_variables(os.environ), str(profile)), QOS_FROM_XML: "1"},
    ), SpinningNode() as spinner:
        client = Client(spinner, "/p", ("overlay",))
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        client.image_pub = spinner.node.create_publisher(Image, "/p/camera/image", reliable)
        client.wait_connected()
        pixels = np.random.default_rng(0).integers(0, 255, (1024, 2048, 3), dtype=np.uint8)
        msg = image_msg(pixels, "bgr8", stamp_ns=9_000_000_000)
        out = client.send_and_wait(msg, "overlay")
        assert (out.height, out.width, len(out.data)) == (1024, 2048, pixels.nbytes)
    assert "XMLPARSER" not in log.read_text() and "Error" not in log.read_text()
