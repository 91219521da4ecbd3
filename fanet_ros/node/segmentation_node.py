"""segmentation_node: camera images in, label / colour / overlay images out.

Subscribes ``image`` (or ``image/compressed``), runs the model off the
subscription callback on a worker thread (newest frame wins), and publishes
``~/label`` (mono8 class ids, 255 = unknown), ``~/color``, ``~/overlay`` and
``~/confidence`` (mono8, 255 x the winning class's probability),
each only while it has subscribers, with the input's header; with them ``~/camera_info``
(the input's ``camera_info``, beside ``image``, scaled to the outputs' size). Class names and
colours go out once on the latched ``~/label_info`` and as read-only
parameters; health goes to ``/diagnostics`` (levels: fanet_ros.node.diagnostics_health).
The input subscription's reliability follows the publishers (fanet_ros.node.input_qos).

Several cameras, one model: with ``cameras:=[front, rear]`` the node subscribes
``front/image`` and ``rear/image`` (remap each, e.g. ``-r front/image:=/front/image_raw``)
and publishes ``~/front/label``, ``~/rear/label``, ... with a /diagnostics status per
camera (fanet_ros.node.camera_channel). Each camera keeps its newest frame; the worker serves
the cameras that have one in turn, in one batch where the model allows
(fanet_ros.node.batch_runner), so a slow or silent camera holds no other back.
"""

from __future__ import annotations

from fanet_ros.node import startup_signals  # first: Ctrl-C during the imports below exits quietly

# isort: split

import json
import sys
import threading
import time
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_msgs.msg import String

from fanet_ros.node.batch_runner import BatchRunner
from fanet_ros.node.callback_guard import CallbackFailures, GuardedExecutor
from fanet_ros.node.camera_channel import CameraChannel, Frame, Received, StartupError
from fanet_ros.node.frame_slot import RoundRobinSlots
from fanet_ros.node.input_qos import AdaptiveSubscription
from fanet_ros.node.malloc_tuning import keep_image_buffers, user_malloc_settings
from fanet_ros.node.node_parameters import (
    NODE_PARAMETERS,
    PARAMETERS_BY_NAME,
    combination_problems,
    declare_parameters,
)
from fanet_ros.node.node_usage import exit_if_help
from fanet_ros.node.parameter_requests import guard_parameter_services
from fanet_ros.node.qos_profiles import LATCHED_QOS
from fanet_ros.node.steady_timer import steady_timer
from fanet_ros.runtime import ModelLoadError
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.segmenter import Segmenter

__all__ = ["SegmentationNode", "StartupError", "main"]

QOS_REFRESH_S = 1.0
"""Seconds between looks at the input topics' publishers."""
BACKEND_OPTIONS = ("input_height", "input_width", "num_threads", "precision", "engine_cache_dir",
                   "workspace_mb", "int8_calibration_dir")
"""Node parameters handed to the model loader as they are."""
HELP_EXAMPLE = "-p backend:=onnxruntime -p output_resolution:=model -r image:=/camera/image_raw"
"""The command line ``--help`` shows."""


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
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        cameras = list(p["cameras"]) or [""]
        """``""``: the single camera on ``image``; else one channel per named camera."""
        self._slots: RoundRobinSlots[str, Received] = RoundRobinSlots(cameras)
        self.runner = BatchRunner(self.backend)
        self.channels: dict[str, CameraChannel] = {}
        for camera in cameras:  # each camera its own buffers and stage times, one model
            pipeline = self.pipeline if not self.channels else SegmentationPipeline(
                self.backend, p["overlay_alpha"])
            self.channels[camera] = CameraChannel(self, camera, pipeline, p, self._slots.put)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="segmentation", daemon=True)
        self._worker.start()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        for channel in self.channels.values():
            steady_timer(self, QOS_REFRESH_S, channel.image_sub.refresh)
        steady_timer(self, p["diagnostics_period"], self._publish_diagnostics)
        batching = f"; up to {min(self.runner.capacity, len(cameras))} frames per inference " \
            "call" if len(cameras) > 1 else ""
        for channel in self.channels.values():
            self.get_logger().info(f"listening on {channel.describe()}{batching}")

    @property
    def image_sub(self) -> AdaptiveSubscription:
        """The first camera's image subscription (the only one without ``cameras``)."""
        return next(iter(self.channels.values())).image_sub

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
                for channel in self.channels.values():
                    channel.pipeline.overlay_alpha = float(param.value)
        return SetParametersResult(successful=True)

    # -- frames ---------------------------------------------------------------

    def _work(self) -> None:
        """Take the newest frame of each camera that has one (round robin), run them through
        the model together (one batch where the backend allows), publish each camera's."""
        while self._running:
            taken = self._slots.take(timeout=0.1, limit=self.runner.capacity)
            frames: list[tuple[CameraChannel, Frame]] = []
            for camera, item in taken:
                channel = self.channels[camera]
                frame = self._guarded(channel, lambda c=channel, i=item: c.prepare(*i))
                if frame is not None:
                    frames.append((channel, frame))
            if not frames:
                continue
            try:
                results = self.runner.run([frame.request for _, frame in frames])
            except Exception as exc:  # a failing batch must never stop the node
                for channel, _ in frames:
                    self._failed(channel, exc)
                continue
            for (channel, frame), result in zip(frames, results):
                if isinstance(result, Exception):
                    channel.drop_nonfinite(result, str(self.backend.model_path))
                else:
                    self._guarded(channel, lambda c=channel, f=frame, r=result: c.publish(f, r))

    def _guarded(self, channel: CameraChannel, step: Any) -> Any:
        """``step()``, or ``None`` with its failure counted on ``channel``."""
        try:
            return step()
        except Exception as exc:  # a failing frame must never stop the node
            self._failed(channel, exc)
            return None

    def _failed(self, channel: CameraChannel, exc: Exception) -> None:
        if self._running and self.context.ok():  # shutting down, publishing fails: fine
            channel.fail(exc)

    # -- diagnostics ----------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        shared = {
            "backend": self.backend.name,
            "device": self.backend.device,
            "model": f"{self.metadata.model}/{self.metadata.dataset}",
            "model_path": str(self.backend.model_path),
            "model_input": f"{self.backend.input_height}x{self.backend.input_width}",
        }
        for key, tally in (("callback_failures", self.callback_failures),
                           ("parameter_requests_refused", self.refused_requests)):
            count, last = tally.snapshot()
            shared[key] = str(count)
            if last:
                shared[f"{key}_last"] = last
        array = DiagnosticArray(status=[
            channel.status(now, self._slots.replaced[camera], shared)
            for camera, channel in self.channels.items()
        ])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)

    def destroy_node(self) -> None:
        self._running = False
        self._slots.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        if self._worker.is_alive():  # freeing buffers under a running inference would crash
            self.get_logger().warning("an inference still runs after 5 s: the backend is left "
                                      "for the process exit to free")
        else:
            self.backend.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run fanet_ros segmentation_node``; ``--help`` prints the usage."""
    exit_if_help(__doc__ or "", NODE_PARAMETERS, HELP_EXAMPLE, args)
    tuned = keep_image_buffers()  # the process is ours alone: see fanet_ros.node.malloc_tuning
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
