"""One camera of the segmentation node: its input, its outputs and its health.

The node serves one camera (``image`` in, ``~/label`` ... out) or several by name
(``front/image`` in, ``~/front/label`` ... out); everything here is per camera: the
subscription and its camera_info, the publishers, the newest-frame slot's counts, the rates,
latencies and findings, and the camera's /diagnostics status. The model and the worker that
runs it are the node's (fanet_ros.node.segmentation_node).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from fanet_ros.image_conversion import (
    DecodedImage,
    ImageConversionError,
    ImageTooLargeError,
    deserialize_image,
    encapsulation_name,
    fill_image_msg,
    fill_jpeg_msg,
    image_from_compressed_msg,
    image_from_msg,
    image_from_serialized,
    is_plain_cdr,
    serialized_stamp_ns,
)
from fanet_ros.node.batch_runner import FrameRequest
from fanet_ros.node.camera_info import WITHHELD, CameraInfoRelay, camera_info_topic
from fanet_ros.node.diagnostics_health import (
    ERROR,
    OK,
    WARN,
    FrameCounters,
    Health,
    HealthMonitor,
    InputState,
)
from fanet_ros.node.frame_notes import FrameNotes
from fanet_ros.node.frame_stamps import (
    check_stamp,
    clock_skew_note,
    seconds_since_stamp,
    stamp_nanoseconds,
)
from fanet_ros.node.input_qos import AdaptiveSubscription, policy_name
from fanet_ros.node.input_shape import stretch_advice
from fanet_ros.node.node_statistics import LatencyWindow, RateMeter
from fanet_ros.node.qos_profiles import output_qos, sensor_data_qos
from fanet_ros.node.throughput_watch import ArrivalWindow, ThroughputWatch
from fanet_ros.node.topics import COMPRESSED_OUTPUTS, IMAGE_OUTPUTS
from fanet_ros.segmentation_pipeline import FrameOutputs, SegmentationPipeline

WARN_THROTTLE_S = 5.0
HEALTH_LOG_EVERY_S = 30.0
"""A lasting WARN or ERROR health is logged again this often."""
FRAME_NOTES = ("stamped_ahead", "with_extra_data", "dropped_nonfinite_output", WITHHELD)
"""Findings counted per frame, each reported as ``frames_<kind>`` on /diagnostics."""
OUTPUTS = IMAGE_OUTPUTS


class StartupError(RuntimeError):
    """Bad parameters: the node cannot start; the message says which and why."""


Received = tuple[bytes, float, int]
"""A serialized frame, its ``time.monotonic()`` and ROS-clock (ns) receipt times."""


@dataclass
class Frame:
    """A decoded frame on its way through the model."""

    header: Header
    image: DecodedImage
    request: FrameRequest
    received: float
    received_ns: int


class CameraChannel:
    """One camera's topics, counts and /diagnostics status on ``node``.

    ``camera``: ``""`` for the node's single camera, else its name (a topic name token).
    ``deliver`` hands each received frame to the node's worker, while ``accepting()`` (an
    inactive managed node drops frames uncounted); ``create_publisher`` and
    ``destroy_publisher`` make and release the output publishers (default: the node's).
    """

    def __init__(
        self, node: Node, camera: str, pipeline: SegmentationPipeline, params: dict[str, Any],
        deliver: Callable[[str, Received], None],
        create_publisher: Callable[..., Publisher] | None = None,
        destroy_publisher: Callable[[Publisher], Any] | None = None,
        accepting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.node = node
        self.camera = camera
        self.pipeline = pipeline
        self.params = params
        self._deliver = deliver
        self._accepting = accepting
        self._create_publisher = create_publisher or node.create_publisher
        self._destroy_publisher = destroy_publisher or node.destroy_publisher
        self.logger = node.get_logger().get_child(camera) if camera else node.get_logger()
        """This camera's logger: rclpy throttles per logger and call site, so one camera's
        dropped frames never silence another's."""
        logger = self.logger
        self.frames_in = RateMeter()
        self.frames_out = RateMeter()
        self.counters = FrameCounters(pipeline.times.lock)
        """Frame counts and the last error, under the stage timers' lock."""
        self.health = HealthMonitor(params["input_timeout"])
        self.throughput = ThroughputWatch()
        self._health_reason, self._health_logged = "", 0.0
        self.published = dict.fromkeys(
            [*OUTPUTS, *(f"{name}_compressed" for name in COMPRESSED_OUTPUTS)], 0)
        self.latency = LatencyWindow()
        """Header stamp to publish."""
        self.input_delay = LatencyWindow()
        """Header stamp to receipt: the camera driver's and the transport's share."""
        self.arrivals = ArrivalWindow()
        """Every received frame (processed or not): its stamp-to-receipt delay and whether it
        came in a burst."""
        self.queue_wait = LatencyWindow()
        """Receipt to the worker taking the frame."""
        self.processing = LatencyWindow()
        """Receipt to publish."""
        self._max_pixels = round(params["max_decoded_megapixels"] * 1e6)
        self._shape_checked: tuple[int, int] | None = None
        self._shapes_warned: set[tuple[int, int]] = set()
        self.input_shape = ""
        """/diagnostics ``input_shape``: the last frame's shape against the model input's."""
        self.notes = FrameNotes(logger.warning, FRAME_NOTES, WARN_THROTTLE_S)
        """Frames published or dropped with a finding (fanet_ros.node.frame_notes)."""
        self.publishers: dict[str, Publisher] = {}
        self.compressed_publishers: dict[str, Publisher] = {}
        """``color``, ``overlay`` -> their ``<name>/compressed`` (JPEG) publishers."""
        try:
            self._create_topics()
        except BaseException:  # nothing half-made stays behind (a managed node retries)
            self.destroy()
            raise
        self.status_name = f"{node.get_fully_qualified_name()}{'/' + camera if camera else ''}" \
            ": segmentation"
        """The /diagnostics status name: ``<node>: segmentation``, ``<node>/front: ...``."""

    def _create_topics(self) -> None:
        node, params, camera = self.node, self.params, self.camera
        prefix = f"{camera}/" if camera else ""
        logger = self.logger
        overrides = QoSOverridingOptions.with_default_policies()
        for name in OUTPUTS:
            self.publishers[name] = self._create_publisher(
                Image, f"~/{prefix}{name}", output_qos(), qos_overriding_options=overrides)
        for name in COMPRESSED_OUTPUTS:
            self.compressed_publishers[name] = self._create_publisher(
                CompressedImage, f"~/{prefix}{name}/compressed", output_qos(),
                qos_overriding_options=overrides)
        image_topic = f"{prefix}image"
        if params["image_transport"] == "compressed":
            topic = node.resolve_topic_name(image_topic) + "/compressed"
            self._msg_type: type = CompressedImage
        else:
            topic, self._msg_type = image_topic, Image
        # raw: the callback only stores the serialized frame; the worker reads the frames it
        # processes (raw images as a view on those bytes), never the ones a newer frame replaces
        try:
            self.image_sub = AdaptiveSubscription(
                node, self._msg_type, topic, self._on_image, params["input_reliability"],
                log=logger.info, on_lost=lambda n: self.counters.add(lost=n),
            )
        except (ValueError, rclpy.exceptions.InvalidParameterTypeException) as exc:
            raise StartupError(f"invalid parameters: {exc}") from None
        # the camera model beside the image, as image_pipeline reads it (any publisher QoS)
        info_topic = camera_info_topic(node.resolve_topic_name(image_topic))
        self.camera_infos = CameraInfoRelay(info_topic, self.notes, logger.info)
        self.camera_info_sub = node.create_subscription(
            CameraInfo, info_topic, self.camera_infos.put, sensor_data_qos(),
            qos_overriding_options=overrides,
        )
        self.camera_info_pub = self._create_publisher(
            CameraInfo, f"~/{prefix}camera_info", output_qos(), qos_overriding_options=overrides
        )

    def destroy(self) -> None:
        """Destroy this camera's subscriptions and publishers, those that exist (the node is
        cleaned up, or their creation failed part way)."""
        if getattr(self, "image_sub", None) is not None:
            self.image_sub.destroy()
            self.image_sub = None  # type: ignore[assignment]
        if getattr(self, "camera_info_sub", None) is not None:
            self.node.destroy_subscription(self.camera_info_sub)
            self.camera_info_sub = None
        publishers = [*self.publishers.values(), *self.compressed_publishers.values(),
                      getattr(self, "camera_info_pub", None)]
        self.publishers, self.compressed_publishers, self.camera_info_pub = {}, {}, None
        for publisher in filter(None, publishers):
            self._destroy_publisher(publisher)

    def describe(self) -> str:
        """Input and outputs, for the start-up log line."""
        outputs = ", ".join(self.publishers[name].topic_name for name in OUTPUTS[:3])
        return (f"{self.image_sub.topic_name} ({policy_name(self.image_sub.reliability)}, "
                f"input_reliability {self.params['input_reliability']}) -> {outputs}")

    # -- frames ---------------------------------------------------------------

    def _on_image(self, serialized: bytes) -> None:
        if not self._accepting():
            return  # an inactive managed node: the frame is neither taken nor counted
        self.frames_in.tick()
        self.counters.add(received=1)
        received, received_ns = time.monotonic(), self.node.get_clock().now().nanoseconds
        stamp_ns = serialized_stamp_ns(serialized)
        self.arrivals.add(received, seconds_since_stamp(stamp_ns or 0, received_ns,
                                                        self._sim_time()))
        self._deliver(self.camera, (serialized, received, received_ns))

    def prepare(self, serialized: bytes, received: float, received_ns: int) -> Frame | None:
        """The frame decoded with the outputs wanted; ``None`` when nobody subscribes or the
        frame cannot be read (counted and warned about)."""
        self.queue_wait.add(time.monotonic() - received)
        want = {name: pub.get_subscription_count() > 0 for name, pub in self.publishers.items()}
        for name, pub in self.compressed_publishers.items():
            want[name] |= pub.get_subscription_count() > 0
        want["confidence"] &= self.pipeline.metadata.output != "labels"  # it has none to give
        if not any(want.values()):
            self.counters.add(skipped=1)
            return None
        self.counters.add(processed=1)
        t0 = time.perf_counter()
        try:
            header, image = self._decode(serialized)
            check_stamp(header.stamp)
        except ImageConversionError as exc:
            if isinstance(exc, ImageTooLargeError):
                self.counters.add(too_large=1)
            self.counters.error(str(exc), failure=False)
            self.logger.warning(
                f"dropped a frame from {self.image_sub.topic_name}: {exc}",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
            return None
        self.pipeline.times.add("convert", time.perf_counter() - t0)
        self._check_shape(image.height, image.width)
        if image.extra_bytes:
            self.notes.note("with_extra_data", (
                f"frames on {self.image_sub.topic_name} carry {image.extra_bytes} bytes of "
                f"data beyond step x height: read as {image.width}x{image.height} (check the "
                "publisher's height and step)"))
        request = FrameRequest(
            self.pipeline, image, want_labels=want["label"], want_color=want["color"],
            want_overlay=want["overlay"],
            at_input_resolution=self.params["output_resolution"] == "input",
            want_confidence=want["confidence"],
        )
        return Frame(header, image, request, received, received_ns)

    def _check_shape(self, height: int, width: int) -> None:
        """Warn once per camera size that the model input stretches (:mod:`input_shape`)."""
        if (height, width) == self._shape_checked:
            return
        self._shape_checked = (height, width)
        meta = self.pipeline.metadata
        advice = stretch_advice((height, width), self.pipeline.model_size, meta.dynamic_size,
                                meta.size_multiple)
        self.input_shape = f"{width}x{height} (WxH), " + (
            "stretched to the model input" if advice else "the model input's shape")
        if advice and (height, width) not in self._shapes_warned:
            self._shapes_warned.add((height, width))
            self.logger.warning(f"{self.image_sub.topic_name}: {advice}")

    def drop_nonfinite(self, exc: Exception, model_path: str) -> None:
        """A broken model, not a broken worker: say so."""
        self.counters.error(str(exc), failure=True)
        self.notes.note("dropped_nonfinite_output", f"dropped a frame: {exc} (model "
                        f"{model_path})")

    def fail(self, exc: Exception) -> None:
        """A frame of this camera failed in the worker (``frames_failed``)."""
        text = f"{type(exc).__name__}: {exc}"
        self.counters.error(text, failure=True)
        self.logger.error(
            f"frame failed in the worker (frames_failed), from {self.image_sub.topic_name}: "
            f"{text}", throttle_duration_sec=WARN_THROTTLE_S,
        )

    def publish(self, frame: Frame, out: FrameOutputs) -> None:
        """Publish ``frame``'s outputs (and camera_info) with its header; count and time."""
        t1 = time.perf_counter()
        header, image = frame.header, frame.image
        for name, pixels, encoding in (
            ("label", out.labels, "mono8"),
            ("color", out.color, out.display_encoding),
            ("overlay", out.overlay, out.display_encoding),
            ("confidence", out.confidence, "mono8"),
        ):
            if pixels is None:
                continue
            compressed = self.compressed_publishers.get(name)
            if compressed is None or self.publishers[name].get_subscription_count() > 0:
                self.publishers[name].publish(fill_image_msg(Image(), pixels, encoding, header))
                with self.counters.lock:
                    self.published[name] += 1
            if compressed is not None and compressed.get_subscription_count() > 0:
                compressed.publish(fill_jpeg_msg(CompressedImage(), pixels, encoding, header,
                                                 self.params["jpeg_quality"]))
                with self.counters.lock:
                    self.published[f"{name}_compressed"] += 1
        at_input = frame.request.at_input_resolution
        output_size = (image.height, image.width) if at_input else self.pipeline.model_size
        info = self.camera_infos.for_frame(header, (image.height, image.width), output_size)
        if info is not None:
            self.camera_info_pub.publish(info)
        times = self.pipeline.times
        with self.counters.lock:
            times.add("publish", time.perf_counter() - t1)
            times.frames += 1
            self.counters.add(published=1)
        self.frames_out.tick()
        self.processing.add(time.monotonic() - frame.received)
        stamp_ns, sim_time = stamp_nanoseconds(header.stamp), self._sim_time()
        delay = seconds_since_stamp(stamp_ns, frame.received_ns, sim_time)
        if delay is not None:
            self.input_delay.add(delay)
            now_ns = self.node.get_clock().now().nanoseconds
            latency = seconds_since_stamp(stamp_ns, now_ns, sim_time)
            self.latency.add(delay if latency is None else latency)
        elif stamp_ns > 0:
            self.notes.note("stamped_ahead", clock_skew_note(
                (stamp_ns - frame.received_ns) * 1e-9, self.image_sub.topic_name))

    def _sim_time(self) -> bool:
        """Whether the node's clock follows /clock (``use_sim_time``)."""
        return self.node.get_clock().ros_time_is_active

    def _decode(self, serialized: bytes) -> tuple[Header, DecodedImage]:
        """Header and pixels of a serialized frame; raw images are read without a copy."""
        if self._msg_type is Image:
            fast = image_from_serialized(serialized)
            if fast is not None:
                header = Header(frame_id=fast.frame_id)
                header.stamp.sec, header.stamp.nanosec = fast.stamp_sec, fast.stamp_nanosec
                return header, fast.image
        msg = deserialize_image(serialized, self._msg_type)
        try:
            if isinstance(msg, CompressedImage):
                return msg.header, image_from_compressed_msg(msg, self._max_pixels)
            return msg.header, image_from_msg(msg)
        except ImageConversionError as exc:
            if is_plain_cdr(serialized):
                raise
            raise type(exc)(
                f"{exc} (the message came with {encapsulation_name(serialized)}, not the "
                "plain CDR ROS 2 publishers send: its fields may have been misread)"
            ) from None

    # -- diagnostics ----------------------------------------------------------

    def restart_monitoring(self) -> None:
        """Health and rates from now on (each lifecycle activation): an inactive stretch is
        neither a silent camera nor part of a rate."""
        self.health.restart(time.monotonic())
        self.throughput.restart()
        self.frames_in.restart()
        self.frames_out.restart()

    def status(self, now: float, dropped_stale: int, shared: dict[str, str]) -> DiagnosticStatus:
        """This camera's /diagnostics status; ``shared``: the node's values (model, ...)."""
        with self.counters.lock:
            stage_ms, _ = self.pipeline.times.take()
            counts = self.counters.counts()
            failures = self.counters.consecutive_failures
            last_received = self.counters.last_received
            published = dict(self.published)
        last_error = self.counters.take_last_error(now)
        source = self.image_sub
        health = self.health.assess(
            now, counts, failures, last_received, last_error[0] if last_error else "",
            InputState(source.topic_name, source.publishers, source.best_effort_publishers,
                       source.publishers_since, policy_name(source.reliability),
                       source.type_name, source.other_types),
        )
        percentiles = {
            prefix: window.take_percentiles_ms()
            for prefix, window in (("latency", self.latency), ("input_delay", self.input_delay),
                                   ("queue_wait", self.queue_wait),
                                   ("processing", self.processing))
        }
        arrival_delay_ms, bursty = self.arrivals.take()
        self.throughput.add(now, counts.received - counts.skipped, counts.published,
                            percentiles["latency"].get(50),
                            arrival_delay_ms if arrival_delay_ms is not None
                            else percentiles["input_delay"].get(50), bursty)
        drift = self.throughput.assess(source.topic_name, source.publishers)
        if drift is not None and health.level == OK and health.reason == "ok":
            health = Health(WARN, drift.reason, drift.message)
        values = {
            **({"camera": self.camera} if self.camera else {}),
            **shared,
            "input_rate_hz": f"{self.frames_in.rate():.2f}",
            "output_rate_hz": f"{self.frames_out.rate():.2f}",
            "input_topic": source.topic_name,
            "input_reliability": policy_name(source.reliability),
            "input_publishers": str(source.publishers),
            "input_publishers_best_effort": str(source.best_effort_publishers),
            **({"input_shape": self.input_shape} if self.input_shape else {}),
            "frames_received": str(counts.received),
            "frames_lost_in_transport": str(counts.lost),
            "frames_published": str(counts.published),
            "frames_dropped_stale": str(dropped_stale),
            "frames_dropped_invalid": str(counts.invalid),
            "frames_dropped_too_large": str(counts.too_large),
            "frames_failed": str(counts.failed),
            "frames_skipped_no_subscribers": str(counts.skipped),
            **{f"published_{name}": str(count) for name, count in published.items()},
            **self.notes.values(),
            "camera_info": self.camera_infos.state,
        }
        for prefix, by_quantile in percentiles.items():
            for q, ms in by_quantile.items():
                values[f"{prefix}_p{q:g}_ms"] = f"{ms:.2f}"
        if arrival_delay_ms is not None:
            values["arrival_delay_p50_ms"] = f"{arrival_delay_ms:.2f}"
        if bursty is not None:
            values["input_burst_percent"] = f"{100 * bursty:.1f}"
        for stage, ms in stage_ms.items():
            values[f"stage_{stage}_ms"] = f"{ms:.3f}"
        values["health"] = health.reason
        if last_error:
            values["last_error"] = last_error[0]
            values["last_error_age_s"] = f"{last_error[1]:.1f}"
        self._log_health(health)
        return DiagnosticStatus(
            level=bytes([health.level]),  # a byte field: an int would be mis-serialized
            name=self.status_name,
            message=health.message,
            hardware_id=shared.get("device", ""),
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )

    def _log_health(self, health: Health) -> None:
        """Log a WARN or ERROR when it starts, and again every 30 s while it lasts (timed
        here: rclpy's throttle logs its first call at once, the tick after the start)."""
        if health.level == OK or health.reason == "waiting":
            self._health_reason = ""
            return
        now = time.monotonic()
        lasting = health.reason == self._health_reason
        if lasting and now - self._health_logged < HEALTH_LOG_EVERY_S:
            return
        self._health_reason, self._health_logged = health.reason, now
        if health.level == ERROR:
            self.logger.error(health.message)
        else:
            self.logger.warning(health.message)
