"""segmentation_node: camera images in, label / colour / overlay images out.

Subscribes ``image`` (or ``image/compressed``), runs the model off the
subscription callback on a worker thread (newest frame wins), and publishes
``~/label`` (mono8 class ids, 255 = unknown), ``~/color``, ``~/overlay`` and
``~/confidence`` (mono8, 255 x the winning class's probability),
each only while it has subscribers, with the input's header; with them ``~/camera_info``
(the input's ``camera_info``, beside ``image``, scaled to the outputs' size). Class names and
colours go out once on the latched ``~/label_info`` and as read-only
parameters; health goes to ``/diagnostics`` (levels: fanet_ros.diagnostics_health).
The input subscription's reliability follows the publishers (fanet_ros.input_qos).
"""

from __future__ import annotations

from fanet_ros import startup_signals  # first: Ctrl-C during the imports below exits quietly

# isort: split

import json
import sys
import threading
import time
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header, String

from fanet_ros.callback_guard import CallbackFailures, GuardedExecutor
from fanet_ros.camera_info import WITHHELD, CameraInfoRelay, camera_info_topic
from fanet_ros.diagnostics_health import (
    ERROR,
    OK,
    WARN,
    FrameCounters,
    Health,
    HealthMonitor,
    InputState,
)
from fanet_ros.frame_notes import FrameNotes
from fanet_ros.frame_slot import LatestFrameSlot
from fanet_ros.frame_stamps import check_stamp, clock_skew_note, stamp_nanoseconds
from fanet_ros.image_conversion import (
    DecodedImage,
    ImageConversionError,
    ImageTooLargeError,
    deserialize_image,
    encapsulation_name,
    fill_image_msg,
    image_from_compressed_msg,
    image_from_msg,
    image_from_serialized,
    is_plain_cdr,
)
from fanet_ros.input_qos import AdaptiveSubscription, policy_name
from fanet_ros.malloc_tuning import keep_image_buffers, user_malloc_settings
from fanet_ros.node_parameters import (
    NODE_PARAMETERS,
    PARAMETERS_BY_NAME,
    combination_problems,
    declare_parameters,
)
from fanet_ros.node_statistics import LatencyWindow, RateMeter
from fanet_ros.node_usage import exit_if_help
from fanet_ros.parameter_requests import guard_parameter_services
from fanet_ros.qos_profiles import LATCHED_QOS
from fanet_ros.runtime import ModelLoadError
from fanet_ros.runtime.base import NonFiniteOutputError
from fanet_ros.segmenter import Segmenter
from fanet_ros.throughput_watch import ThroughputWatch

OUTPUT_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
"""Newest image only: a slow subscriber gets the latest mask, not a queue of 6 MB images
(depth 5 cost +15 % RSS and 2.4x the p95 latency in bench/node_pipeline.py)."""
WARN_THROTTLE_S = 5.0
QOS_REFRESH_S = 1.0
"""Seconds between looks at the input topic's publishers."""
FRAME_NOTES = ("stamped_ahead", "with_extra_data", "dropped_nonfinite_output", WITHHELD)
"""Findings counted per frame, each reported as ``frames_<kind>`` on /diagnostics."""


BACKEND_OPTIONS = ("input_height", "input_width", "num_threads", "precision", "engine_cache_dir",
                   "workspace_mb", "int8_calibration_dir")
"""Node parameters handed to the model loader as they are."""


HELP_EXAMPLE = "-p backend:=onnxruntime -p output_resolution:=model -r image:=/camera/image_raw"
"""The command line ``--help`` shows."""


class StartupError(RuntimeError):
    """Bad parameters: the node cannot start; the message says which and why."""


class SegmentationNode(Node):
    """The segmentation node; raises :class:`StartupError` / ``ModelLoadError`` at start-up."""

    def __init__(self, node_name: str = "segmentation_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        try:
            self._setup()
        except BaseException:
            Node.destroy_node(self)  # half-built: release what rclpy holds, nothing more
            raise

    def _setup(self) -> None:
        self.callback_failures = CallbackFailures(self.get_logger().error)
        """Exceptions out of callbacks, recorded by :class:`GuardedExecutor` in ``main``."""
        self.refused_requests = CallbackFailures(self.get_logger().warning, "refused")
        guard_parameter_services(self, self.refused_requests.record)
        self.params = self._declare_parameters()
        p = self.params
        try:
            self.segmenter = Segmenter(
                p["model_path"] or None, p["backend"], p["gpu_device"],
                overlay_alpha=p["overlay_alpha"],
                log=self.get_logger().info,
                warn=self.get_logger().warning,
                **{name: p[name] for name in BACKEND_OPTIONS},
            )
        except ValueError as exc:
            raise StartupError(f"invalid parameters: {exc}") from None
        self.pipeline = self.segmenter.pipeline
        self.backend = self.segmenter.backend
        self.metadata = self.segmenter.metadata
        self.get_logger().info(f"model loaded: {self.backend.describe()}")
        self._publish_class_info()

        overrides = QoSOverridingOptions.with_default_policies()
        self.label_pub = self.create_publisher(
            Image, "~/label", OUTPUT_QOS, qos_overriding_options=overrides
        )
        self.color_pub = self.create_publisher(
            Image, "~/color", OUTPUT_QOS, qos_overriding_options=overrides
        )
        self.overlay_pub = self.create_publisher(
            Image, "~/overlay", OUTPUT_QOS, qos_overriding_options=overrides
        )
        self.confidence_pub = self.create_publisher(
            Image, "~/confidence", OUTPUT_QOS, qos_overriding_options=overrides
        )
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self.frames_in = RateMeter()
        self.frames_out = RateMeter()
        self.counters = FrameCounters(self.pipeline.times.lock)
        """Frame counts and the last error, under the stage timers' lock."""
        self.health = HealthMonitor(self.params["input_timeout"])
        self.throughput = ThroughputWatch()
        self._health_reason = ""
        self.published = {"label": 0, "color": 0, "overlay": 0, "confidence": 0}
        self.latency = LatencyWindow()
        """Header stamp to publish."""
        self.input_delay = LatencyWindow()
        """Header stamp to receipt: the camera driver's and the transport's share."""
        self.queue_wait = LatencyWindow()
        """Receipt to the worker taking the frame."""
        self.processing = LatencyWindow()
        """Receipt to publish."""
        self._max_pixels = round(self.params["max_decoded_megapixels"] * 1e6)
        self.notes = FrameNotes(self.get_logger().warning, FRAME_NOTES, WARN_THROTTLE_S)
        """Frames published or dropped with a finding (fanet_ros.frame_notes)."""
        self._slot: LatestFrameSlot[tuple[Any, float, int]] = LatestFrameSlot()

        if self.params["image_transport"] == "compressed":
            topic = self.resolve_topic_name("image") + "/compressed"
            msg_type: type = CompressedImage
        else:
            topic, msg_type = "image", Image
        self._msg_type = msg_type
        # raw: the callback only stores the serialized frame; the worker reads the frames it
        # processes (raw images as a view on those bytes), never the ones a newer frame replaces
        try:
            self.image_sub = AdaptiveSubscription(
                self, msg_type, topic, self._on_image, self.params["input_reliability"],
                log=self.get_logger().info, on_lost=lambda n: self.counters.add(lost=n),
            )
        except (ValueError, rclpy.exceptions.InvalidParameterTypeException) as exc:
            raise StartupError(f"invalid parameters: {exc}") from None
        # the camera model beside the image, as image_pipeline reads it (any publisher QoS)
        info_topic = camera_info_topic(self.resolve_topic_name("image"))
        self.camera_infos = CameraInfoRelay(info_topic, self.notes, self.get_logger().info)
        self.camera_info_sub = self.create_subscription(
            CameraInfo, info_topic, self.camera_infos.put, qos_profile_sensor_data,
        )
        self.camera_info_pub = self.create_publisher(
            CameraInfo, "~/camera_info", OUTPUT_QOS, qos_overriding_options=overrides
        )
        self._running = True
        self._worker = threading.Thread(target=self._work, name="segmentation", daemon=True)
        self._worker.start()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(QOS_REFRESH_S, self.image_sub.refresh)
        self.create_timer(self.params["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info(
            f"listening on {self.image_sub.topic_name} "
            f"({policy_name(self.image_sub.reliability)}, input_reliability "
            f"{self.params['input_reliability']}); publishing "
            f"{self.label_pub.topic_name}, {self.color_pub.topic_name}, "
            f"{self.overlay_pub.topic_name}"
        )

    # -- start-up --------------------------------------------------------------

    def _declare_parameters(self) -> dict[str, Any]:
        values, problems = declare_parameters(self, NODE_PARAMETERS)
        problems += combination_problems(values)
        if problems:
            raise StartupError("invalid parameters: " + "; ".join(problems))
        return values

    def _publish_class_info(self) -> None:
        meta = self.metadata
        colors = ["#{:02x}{:02x}{:02x}".format(*c) for c in meta.colors]
        self.declare_parameter(
            "class_names", list(meta.class_names),
            ParameterDescriptor(description="Class names by id (from the model).", read_only=True),
            ignore_override=True,
        )
        self.declare_parameter(
            "class_colors", colors,
            ParameterDescriptor(description="Class colours by id, #rrggbb.", read_only=True),
            ignore_override=True,
        )
        self.label_info_pub = self.create_publisher(String, "~/label_info", LATCHED_QOS)
        info = {
            "model": meta.model,
            "dataset": meta.dataset,
            "ignore_label": meta.ignore_label,
            "classes": [
                {"id": i, "name": n, "color": list(c)}
                for i, (n, c) in enumerate(zip(meta.class_names, meta.colors))
            ],
        }
        self.label_info_pub.publish(String(data=json.dumps(info)))

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        for param in params:
            spec = PARAMETERS_BY_NAME.get(param.name)
            reason = spec.check(param.value) if spec else None
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for param in params:
            if param.name == "overlay_alpha":
                self.pipeline.overlay_alpha = float(param.value)
        return SetParametersResult(successful=True)

    # -- frames ---------------------------------------------------------------

    def _on_image(self, serialized: bytes) -> None:
        self.frames_in.tick()
        self.counters.add(received=1)
        self._slot.put((serialized, time.monotonic(), self.get_clock().now().nanoseconds))

    def _work(self) -> None:
        while self._running:
            item = self._slot.take(timeout=0.1)
            if item is not None:
                try:
                    self._process(*item)
                except Exception as exc:  # a failing frame must never stop the node
                    if not self.context.ok():
                        return  # shutting down (Ctrl-C): publishing fails, nothing is wrong
                    text = f"{type(exc).__name__}: {exc}"
                    self.counters.error(text, failure=True)
                    self.get_logger().error(
                        f"frame failed in the worker (frames_failed): {text}",
                        throttle_duration_sec=WARN_THROTTLE_S,
                    )

    def _process(self, serialized: bytes, received: float, received_ns: int) -> None:
        self.queue_wait.add(time.monotonic() - received)
        want_label = self.label_pub.get_subscription_count() > 0
        want_color = self.color_pub.get_subscription_count() > 0
        want_overlay = self.overlay_pub.get_subscription_count() > 0
        want_confidence = self.confidence_pub.get_subscription_count() > 0
        if not (want_label or want_color or want_overlay or want_confidence):
            self.counters.add(skipped=1)
            return
        self.counters.add(processed=1)
        t0 = time.perf_counter()
        try:
            header, image = self._decode(serialized)
            check_stamp(header.stamp)
        except ImageConversionError as exc:
            if isinstance(exc, ImageTooLargeError):
                self.counters.add(too_large=1)
            self.counters.error(str(exc), failure=False)
            self.get_logger().warning(
                f"dropped a frame from {self.image_sub.topic_name}: {exc}",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
            return
        times = self.pipeline.times
        at_input = self.params["output_resolution"] == "input"
        times.add("convert", time.perf_counter() - t0)
        if image.extra_bytes:
            self.notes.note("with_extra_data", (
                f"frames on {self.image_sub.topic_name} carry {image.extra_bytes} bytes of "
                f"data beyond step x height: read as {image.width}x{image.height} (check the "
                "publisher's height and step)"))
        try:
            out = self.pipeline.process(
                image,
                want_labels=want_label,
                want_color=want_color,
                want_overlay=want_overlay,
                at_input_resolution=at_input,
                want_confidence=want_confidence,
            )
        except NonFiniteOutputError as exc:  # a broken model, not a broken worker: say so
            self.counters.error(str(exc), failure=True)
            self.notes.note("dropped_nonfinite_output", f"dropped a frame: {exc} (model "
                            f"{self.backend.model_path})")
            return
        t1 = time.perf_counter()
        for name, pixels, encoding, publisher in (
            ("label", out.labels, "mono8", self.label_pub),
            ("color", out.color, out.display_encoding, self.color_pub),
            ("overlay", out.overlay, out.display_encoding, self.overlay_pub),
            ("confidence", out.confidence, "mono8", self.confidence_pub),
        ):
            if pixels is not None:
                publisher.publish(fill_image_msg(Image(), pixels, encoding, header))
                with self.counters.lock:
                    self.published[name] += 1
        output_size = (image.height, image.width) if at_input else self.pipeline.model_size
        info = self.camera_infos.for_frame(header, (image.height, image.width), output_size)
        if info is not None:
            self.camera_info_pub.publish(info)
        with self.counters.lock:
            times.add("publish", time.perf_counter() - t1)
            times.frames += 1
            self.counters.add(published=1)
        self.frames_out.tick()
        self.processing.add(time.monotonic() - received)
        stamp_ns = stamp_nanoseconds(header.stamp)
        if stamp_ns > received_ns:
            self.notes.note("stamped_ahead", clock_skew_note(
                (stamp_ns - received_ns) * 1e-9, self.image_sub.topic_name))
        elif stamp_ns > 0:
            self.input_delay.add((received_ns - stamp_ns) * 1e-9)
            self.latency.add((self.get_clock().now().nanoseconds - stamp_ns) * 1e-9)

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

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
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
                       source.publishers_since, policy_name(source.reliability)),
        )
        percentiles = {
            prefix: window.take_percentiles_ms()
            for prefix, window in (("latency", self.latency), ("input_delay", self.input_delay),
                                   ("queue_wait", self.queue_wait),
                                   ("processing", self.processing))
        }
        self.throughput.add(now, counts.received - counts.skipped, counts.published,
                            percentiles["latency"].get(50), percentiles["input_delay"].get(50))
        drift = self.throughput.assess(source.topic_name, source.publishers)
        if drift is not None and health.level == OK and health.reason == "ok":
            health = Health(WARN, drift.reason, drift.message)
        values = {
            "backend": self.backend.name,
            "device": self.backend.device,
            "model": f"{self.metadata.model}/{self.metadata.dataset}",
            "model_path": str(self.backend.model_path),
            "model_input": f"{self.backend.input_height}x{self.backend.input_width}",
            "input_rate_hz": f"{self.frames_in.rate():.2f}",
            "output_rate_hz": f"{self.frames_out.rate():.2f}",
            "input_topic": source.topic_name,
            "input_reliability": policy_name(source.reliability),
            "input_publishers": str(source.publishers),
            "input_publishers_best_effort": str(source.best_effort_publishers),
            "frames_received": str(counts.received),
            "frames_lost_in_transport": str(counts.lost),
            "frames_published": str(counts.published),
            "frames_dropped_stale": str(self._slot.replaced),
            "frames_dropped_invalid": str(counts.invalid),
            "frames_dropped_too_large": str(counts.too_large),
            "frames_failed": str(counts.failed),
            "frames_skipped_no_subscribers": str(counts.skipped),
            **{f"published_{name}": str(count) for name, count in published.items()},
            **self.notes.values(),
            "camera_info": self.camera_infos.state,
        }
        for key, tally in (("callback_failures", self.callback_failures),
                           ("parameter_requests_refused", self.refused_requests)):
            count, last = tally.snapshot()
            values[key] = str(count)
            if last:
                values[f"{key}_last"] = last
        for prefix, by_quantile in percentiles.items():
            for q, ms in by_quantile.items():
                values[f"{prefix}_p{q:g}_ms"] = f"{ms:.2f}"
        for stage, ms in stage_ms.items():
            values[f"stage_{stage}_ms"] = f"{ms:.3f}"
        values["health"] = health.reason
        if last_error:
            values["last_error"] = last_error[0]
            values["last_error_age_s"] = f"{last_error[1]:.1f}"
        self._log_health(health)
        status = DiagnosticStatus(
            level=bytes([health.level]),  # a byte field: an int would be mis-serialized
            name=f"{self.get_fully_qualified_name()}: segmentation",
            message=health.message,
            hardware_id=self.backend.device,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)

    def _log_health(self, health: Health) -> None:
        """Log a WARN or ERROR when it starts, and again every 30 s while it lasts."""
        if health.level == OK or health.reason == "waiting":
            self._health_reason = ""
            return
        started = health.reason != self._health_reason
        self._health_reason = health.reason
        # one call site per severity and throttling: rclpy refuses to mix them at one
        logger = self.get_logger()
        if health.level == ERROR and started:
            logger.error(health.message)
        elif health.level == ERROR:
            logger.error(health.message, throttle_duration_sec=30.0)
        elif started:
            logger.warning(health.message)
        else:
            logger.warning(health.message, throttle_duration_sec=30.0)

    def destroy_node(self) -> None:
        self._running = False
        self._slot.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        self.backend.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run fanet_ros segmentation_node``; ``--help`` prints the usage."""
    exit_if_help(__doc__ or "", NODE_PARAMETERS, HELP_EXAMPLE, args)
    tuned = keep_image_buffers()  # the process is ours alone: see fanet_ros.malloc_tuning
    rclpy.init(args=args)
    logger = rclpy.logging.get_logger("segmentation_node")
    if not tuned:
        user = user_malloc_settings()
        logger.info(f"malloc settings kept as started: {user}" if user
                    else "no glibc mallopt: image buffers are mapped afresh each frame")
    try:
        node = SegmentationNode()
    except BaseException as exc:
        rclpy.try_shutdown()
        signalled = startup_signals.exit_code()
        if signalled is not None:  # SIGINT / SIGTERM during start-up, whatever it interrupted
            raise SystemExit(signalled) from None
        if isinstance(exc, (ModelLoadError, StartupError)):
            logger.fatal(str(exc))
            return 1
        raise
    if node.params["build_only"]:
        logger.info(f"build_only: {node.backend.describe()} is ready; exiting")
        node.destroy_node()
        rclpy.try_shutdown()
        return 0
    startup_signals.set_phase("running")
    executor = GuardedExecutor(node.callback_failures)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if node.context.ok():
            raise
        # a signal shut the context down while spin was building its wait set: a stop
    finally:
        startup_signals.set_phase("stopping")
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
