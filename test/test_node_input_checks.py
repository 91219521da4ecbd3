"""Odd frames, stamps, camera infos and model outputs through real DDS: each is either
published with a counted warning or dropped with a counted warning; none is silent, none is a
worker failure unless the model is at fault, and the node keeps serving frames."""

from __future__ import annotations

import functools
import math
import time

import pytest
from ros_harness import SpinningNode, camera_node, wait_for
from sensor_msgs.msg import CameraInfo, Image
from test_model_refusals import nan_on_content
from test_node import (
    CAMERA_H,
    CAMERA_W,
    TIMEOUT,
    Client,
    camera_image,
    image_msg,
)
from test_node_camera_info import camera_info

MODEL_H, MODEL_W = 64, 96


@pytest.fixture(scope="module")
def checked_node(ros_context, tmp_path_factory, tiny_model):
    yield from camera_node(tmp_path_factory.mktemp("node"), tiny_model, "/ic",
                           output_resolution="model")


@pytest.fixture(scope="module")
def nan_node(ros_context, tmp_path_factory, tiny_model):
    model = nan_on_content(tiny_model, tmp_path_factory.mktemp("nan") / "nan_on_content.onnx")
    yield from camera_node(tmp_path_factory.mktemp("node"), model, "/nf")


def _count(status: dict[str, str], key: str) -> int:
    return int(status.get(key, "0"))


def test_no_camera_info_at_all_is_said_once(checked_node):
    """First in this module: nothing has sent this node a camera_info yet."""
    proc, log = checked_node
    with SpinningNode() as spinner:
        client = Client(spinner, "/ic", ("label",))
        client.wait_connected()
        seed = 0

        def said() -> dict[str, str] | None:
            nonlocal seed
            seed += 1
            client.image_pub.publish(image_msg(camera_image(seed), "rgb8", 1_000_000 + seed))
            status = client.last_status()
            return status if status.get("camera_info", "").startswith("none received on") \
                else None

        status = wait_for(said, TIMEOUT, interval=0.1)
        assert status and status["camera_info"] == "none received on /ic/camera/camera_info"
        assert _count(status, "frames_published") > 0
    text = log.read_text()
    assert text.count("no camera_info on /ic/camera/camera_info") == 1, text


def test_negative_and_future_stamps_are_published_and_skew_is_warned(checked_node):
    proc, log = checked_node
    with SpinningNode() as spinner:
        client = Client(spinner, "/ic", ("label",))
        client.wait_connected()
        before = client.status_after(lambda s: "frames_stamped_ahead" in s)
        msg = image_msg(camera_image(1), "rgb8", 0)
        msg.header.stamp.sec, msg.header.stamp.nanosec = -5, 250
        out = client.send_and_wait(msg)
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == (-5, 250)
        ahead_ns = time.time_ns() + 3600 * 1_000_000_000
        out = client.send_and_wait(image_msg(camera_image(2), "rgb8", ahead_ns))
        assert out.header.stamp.sec == ahead_ns // 1_000_000_000
        status = client.status_after(lambda s: _count(s, "frames_stamped_ahead")
                                     > _count(before, "frames_stamped_ahead"))
        assert status["frames_failed"] == "0" and status["health"] == "ok"
        # a right frame after them: latency is measured again
        now_ns = time.time_ns()
        client.send_and_wait(image_msg(camera_image(3), "rgb8", now_ns))
        assert client.status_after(lambda s: "latency_p50_ms" in s)
    text = log.read_text()
    assert "clock skew: frames on /ic/camera/image are stamped 3" in text
    assert "ERROR" not in text and "Traceback" not in text


def test_malformed_nanosec_is_dropped_as_invalid(checked_node):
    proc, log = checked_node
    with SpinningNode() as spinner:
        client = Client(spinner, "/ic", ("label",))
        client.wait_connected()
        before = client.status_after(lambda s: "frames_dropped_invalid" in s)
        msg = image_msg(camera_image(4), "rgb8", 0)
        msg.header.stamp.sec, msg.header.stamp.nanosec = 7, 1_500_000_000
        client.image_pub.publish(msg)
        status = client.status_after(lambda s: _count(s, "frames_dropped_invalid")
                                     > _count(before, "frames_dropped_invalid"))
        assert "nanosec 1500000000 is not below 1e9" in status["last_error"]
        assert status["frames_failed"] == "0"
        assert not any(m.header.stamp.sec == 7 for m in client.received["label"])
        client.send_and_wait(image_msg(camera_image(5), "rgb8", 8_000_000_000))


def test_data_beyond_step_times_height_is_read_and_warned(checked_node):
    proc, log = checked_node
    with SpinningNode() as spinner:
        client = Client(spinner, "/ic", ("label",))
        client.wait_connected()
        msg = image_msg(camera_image(6), "rgb8", 9_000_000_000)
        msg.data = bytes(msg.data) + bytes(CAMERA_W * 3 * 10)  # ten rows too many
        out = client.send_and_wait(msg)
        assert (out.height, out.width) == (MODEL_H, MODEL_W)
        status = client.status_after(lambda s: _count(s, "frames_with_extra_data") > 0)
        assert status["frames_failed"] == "0"
    assert f"carry {CAMERA_W * 3 * 10} bytes of data beyond step x height" in log.read_text()


def _bad_infos(stamp_ns: int) -> list[tuple[str, CameraInfo]]:
    cases = []
    info = camera_info(stamp_ns, fx=200.0)
    info.width, info.height = 2 * CAMERA_W, 2 * CAMERA_H  # another resolution's calibration
    info.roi.width = info.roi.height = 0
    cases.append(("it describes 320x240 images (WxH) but the frame is 160x120", info))
    info = camera_info(stamp_ns, fx=200.0)
    info.width = info.height = 0
    cases.append(("its size is 0x0 (WxH)", info))
    info = camera_info(stamp_ns, fx=math.nan)
    cases.append(("its K, P hold NaN or infinite values", info))
    return cases


def test_camera_info_that_does_not_fit_the_frames_is_withheld(checked_node):
    proc, log = checked_node
    with SpinningNode() as spinner:
        client = Client(spinner, "/ic", ("label",))
        infos: list[CameraInfo] = []
        info_sub = spinner.node.create_subscription(
            CameraInfo, "/ic/segmentation_node/camera_info", infos.append, 10)
        info_pub = spinner.node.create_publisher(CameraInfo, "/ic/camera/camera_info", 10)
        client.wait_connected()
        assert wait_for(lambda: info_pub.get_subscription_count() > 0, TIMEOUT)
        assert wait_for(lambda: info_sub.get_publisher_count() > 0, TIMEOUT)

        def withheld_because(info: CameraInfo, frame: Image, reason: str) -> bool:
            """The info, then its frame (they travel on different topics: a frame that
            overtakes its info is matched with an older one); True once withheld for
            ``reason``."""
            before = client.status_after(lambda s: "frames_camera_info_withheld" in s)
            info_pub.publish(info)
            time.sleep(0.3)
            client.send_and_wait(frame)
            withheld = _count(before, "frames_camera_info_withheld")
            status = client.status_after(
                lambda s: _count(s, "frames_camera_info_withheld") > withheld, timeout=5.0)
            return bool(status) and status["camera_info"] == f"withheld: {reason}"

        for i, (reason, info) in enumerate(_bad_infos(20_000_000_000)):
            stamp_ns = 20_000_000_000 + i
            info.header.stamp.sec, info.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
            frame = image_msg(camera_image(7 + i), "rgb8", stamp_ns)
            attempt = functools.partial(withheld_because, info, frame, reason)
            assert wait_for(attempt, TIMEOUT, interval=0.0), (
                f"not withheld as '{reason}': {client.last_status().get('camera_info')}")
        # a fitting info is passed on, scaled; nothing was published for the bad ones before it
        good_ns = 30_000_000_000
        frame = image_msg(camera_image(20), "rgb8", good_ns)

        def passed_on() -> list[CameraInfo]:
            info_pub.publish(camera_info(good_ns, fx=200.0))
            time.sleep(0.3)
            label = client.send_and_wait(frame)
            return wait_for(lambda: [i for i in infos if i.header.stamp == label.header.stamp],
                            1.0)

        got = wait_for(passed_on, TIMEOUT, interval=0.0)
        assert got and (got[0].width, got[0].height) == (MODEL_W, MODEL_H)
        assert all(i.header.stamp.sec == 30 for i in infos)
        assert client.status_after(lambda s: s["camera_info"] == "ok")
    text = log.read_text()
    assert "~/camera_info withheld: the camera_info on /ic/camera/camera_info does not fit" \
        in text


def test_frames_whose_model_output_is_nan_are_dropped_and_counted(nan_node):
    proc, log = nan_node
    with SpinningNode() as spinner:
        client = Client(spinner, "/nf", ("label",))
        client.wait_connected()  # a blank frame: finite
        published = client.status_after(lambda s: _count(s, "frames_published") >= 1)[
            "frames_published"]
        for seed in range(3):
            client.image_pub.publish(image_msg(camera_image(seed), "rgb8", 1_000 + seed))
            time.sleep(0.1)
        status = client.status_after(lambda s: _count(s, "frames_dropped_nonfinite_output") >= 1)
        assert status, "non-finite outputs were not counted"
        assert "NaN" in status["last_error"] and _count(status, "frames_failed") >= 1
        assert status["frames_published"] == published and not client.received["label"]
        assert proc.poll() is None
    text = log.read_text()
    assert "dropped a frame: the model's output holds" in text and "Traceback" not in text


def test_frames_that_arrive_in_bursts_are_measured_as_such(checked_node):
    """The soak's slowdown: a camera connection that releases frames in pairs. /diagnostics
    sees it on every frame received (input_burst_percent, arrival_delay_p50_ms), also on
    those the newest-frame slot then drops as stale."""
    with SpinningNode() as spinner:
        client = Client(spinner, "/ic", ("label",))
        client.wait_connected()
        client.send_and_wait(image_msg(camera_image(1), "rgb8", time.time_ns()))

        def bursts_while_sending(pairs: bool, seconds: float = 2.0) -> list[float]:
            """input_burst_percent of each /diagnostics status while frames were sent."""
            first = len(client.diagnostics)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for _ in range(2 if pairs else 1):
                    client.image_pub.publish(image_msg(camera_image(2), "rgb8", time.time_ns()))
                time.sleep(0.06 if pairs else 0.03)
            time.sleep(0.5)
            statuses = [{kv.key: kv.value for kv in status.values}
                        for array in list(client.diagnostics)[first:]
                        for status in array.status if status.name == client.status_name]
            assert any("arrival_delay_p50_ms" in s for s in statuses), statuses
            return [float(s["input_burst_percent"]) for s in statuses
                    if "input_burst_percent" in s]

        steady, paired = bursts_while_sending(pairs=False), bursts_while_sending(pairs=True)
        assert steady and min(steady) <= 20, steady
        assert paired and max(paired) >= 30, paired
