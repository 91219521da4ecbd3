"""What segmentation_node does, in the phases of a ROS 2 managed (lifecycle) node.

:class:`SegmentationCore` is mixed into an rclpy node class: ``_declare`` (parameters) at
construction, then ``_configure`` (the model, the engine, every topic), ``_activate`` (the
worker thread and /diagnostics), ``_deactivate`` and ``_cleanup``, each undoing the one
before. :class:`~fanet_ros.node.segmentation_node.SegmentationNode` runs the first three at
construction; :class:`~fanet_ros.node.segmentation_lifecycle_node.SegmentationLifecycleNode`
on its lifecycle transitions. :func:`run_node` is both executables' ``main``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.timer import Timer
from std_msgs.msg import String

from fanet_ros.node import startup_signals
from fanet_ros.node.batch_runner import BatchRunner
from fanet_ros.node.callback_guard import CallbackFailures, GuardedExecutor
from fanet_ros.node.camera_channel import CameraChannel, Frame, Received, StartupError
from fanet_ros.node.frame_slot import RoundRobinSlots
from fanet_ros.node.malloc_tuning import keep_image_buffers, user_malloc_settings
from fanet_ros.node.node_parameters import (
    MODEL_PARAMETERS,
    NODE_PARAMETERS,
    PARAMETERS_BY_NAME,
    combination_problems,
    declare_parameters,
    names_value,
)
from fanet_ros.node.node_usage import exit_if_help, init_ros
from fanet_ros.node.parameter_requests import guard_parameter_services
from fanet_ros.node.qos_profiles import LATCHED_QOS
from fanet_ros.node.steady_timer import steady_timer
from fanet_ros.node.unknown_parameters import misspelt_parameters
from fanet_ros.runtime import ModelLoadError
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.segmenter import Segmenter

QOS_REFRESH_S = 1.0
"""Seconds between looks at the input topics' publishers."""
BACKEND_OPTIONS = ("input_height", "input_width", "num_threads", "precision", "engine_cache_dir",
                   "workspace_mb", "int8_calibration_dir")
"""Node parameters handed to the model loader as they are."""
WORKER_JOIN_S = 5.0
"""How long deactivating waits for an inference in progress."""
INACTIVE_MESSAGE = "inactive: configured, frames are not processed (activate to start)"
"""The /diagnostics message of a configured managed node that is not active."""


class SegmentationCore:
    """The node's work in phases; mixed into ``rclpy.node.Node`` or its lifecycle node.

    Attribute names must not shadow rclpy's own (``Node._timers`` is the node's timer list:
    replacing it hid every timer from the executor)."""

    params: dict[str, Any]
    segmenter: Segmenter | None = None
    channels: dict[str, CameraChannel]
    _worker: threading.Thread | None = None
    _stop: threading.Event
    _refresh_timers: tuple[Timer, ...] | list[Timer] = ()
    _diagnostics_timer: Timer | None = None
    _active = False
    RECONFIGURABLE = False
    """True for a managed node: configure-time parameters may be set while it is unconfigured
    (then configure reads them); False: they are read-only."""

    # -- declare (construction) ------------------------------------------------

    def _declare(self: Any) -> None:
        self.channels = {}
        self._active = False
        self._worker: threading.Thread | None = None
        self._refresh_timers: list[Timer] = []
        self._diagnostics_timer: Timer | None = None
        self.callback_failures = CallbackFailures(self.get_logger().error)
        """Exceptions out of callbacks, recorded by :class:`GuardedExecutor` in ``main``."""
        self.refused_requests = CallbackFailures(self.get_logger().warning, "refused")
        guard_parameter_services(self, self.refused_requests.record)
        values, problems = declare_parameters(self, NODE_PARAMETERS, self.RECONFIGURABLE)
        problems += combination_problems(values)
        if problems:
            raise StartupError("invalid parameters: " + "; ".join(problems))
        self.params = values
        self.add_on_set_parameters_callback(self._on_set_parameters)
        overrides = getattr(self, "_parameter_overrides", {})  # rclpy has no public accessor
        for name, meant in misspelt_parameters(overrides, [*PARAMETERS_BY_NAME,
                                                           *MODEL_PARAMETERS]):
            self.get_logger().warning(
                f"parameter '{name}' is not one of this node's and is ignored: did you mean "
                f"'{meant}'? (`--help` lists them)")

    def _create_output_publisher(self, msg_type: type, topic: str, qos: Any,
                                 **kwargs: Any) -> Publisher:
        """A publisher of what the node computes; a lifecycle node's are lifecycle
        publishers (silent while inactive)."""
        return self.create_publisher(msg_type, topic, qos, **kwargs)  # type: ignore[attr-defined]

    def _destroy_output_publisher(self, publisher: Publisher) -> None:
        """Undoes :meth:`_create_output_publisher`."""
        self.destroy_publisher(publisher)  # type: ignore[attr-defined]

    # -- configure: the model and every topic ------------------------------------

    def _configure(self: Any) -> None:
        p = self.params
        problems = combination_problems(p)  # a managed node's may have changed since start
        if problems:
            raise StartupError("invalid parameters: " + "; ".join(problems))
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
        self._declare_class_parameters()
        self.label_info_pub = self._create_output_publisher(String, "~/label_info", LATCHED_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        cameras = list(p["cameras"]) or [""]
        """``""``: the single camera on ``image``; else one channel per named camera."""
        self._slots: RoundRobinSlots[str, Received] = RoundRobinSlots(cameras)
        self.runner = BatchRunner(self.backend)
        for camera in cameras:  # each camera its own buffers and stage times, one model
            pipeline = self.pipeline if not self.channels else SegmentationPipeline(
                self.backend, p["overlay_alpha"])
            self.channels[camera] = CameraChannel(
                self, camera, pipeline, p, self._slots.put,
                create_publisher=self._create_output_publisher,
                destroy_publisher=self._destroy_output_publisher,
                accepting=lambda: self._active)
        self._refresh_timers = [steady_timer(self, QOS_REFRESH_S, channel.image_sub.refresh)
                                for channel in self.channels.values()]
        self._diagnostics_timer = steady_timer(
            self, p["diagnostics_period"], self._publish_diagnostics)

    def _declare_class_parameters(self: Any) -> None:
        """``class_names`` and ``class_colors``, from the model. Read-only; a managed node
        declares them without the flag, so that cleanup can undeclare them for the next
        model, and refuses sets itself (:meth:`_on_set_parameters`)."""
        colors = ["#{:02x}{:02x}{:02x}".format(*c) for c in self.metadata.colors]
        for name, value, description in zip(MODEL_PARAMETERS, (
            list(self.metadata.class_names), colors,
        ), ("Class names by id (from the model).", "Class colours by id, #rrggbb.")):
            if not self.has_parameter(name):
                self.declare_parameter(name, value, ParameterDescriptor(
                    description=description, read_only=not self.RECONFIGURABLE),
                    ignore_override=True)

    def _label_info(self: Any) -> String:
        meta = self.metadata
        return String(data=json.dumps({
            "model": meta.model,
            "dataset": meta.dataset,
            "ignore_label": meta.ignore_label,
            "classes": [
                {"id": i, "name": n, "color": list(c)}
                for i, (n, c) in enumerate(zip(meta.class_names, meta.colors))
            ],
        }))

    # -- activate: frames flow ---------------------------------------------------

    def _activate(self: Any) -> None:
        self.label_info_pub.publish(self._label_info())
        self._slots.reopen()
        for channel in self.channels.values():
            channel.restart_monitoring()
        self._active = True
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, args=(self._stop,),
                                        name="segmentation", daemon=True)
        self._worker.start()
        cameras = len(self.channels)
        batching = f"; up to {min(self.runner.capacity, cameras)} frames per inference " \
            "call" if cameras > 1 else ""
        for channel in self.channels.values():
            self.get_logger().info(f"listening on {channel.describe()}{batching}")

    # -- deactivate and clean up --------------------------------------------------

    def _worker_running(self) -> bool:
        """Whether a worker still runs (one that outlived :data:`WORKER_JOIN_S` at the last
        deactivate is finishing its inference)."""
        return self._worker is not None and self._worker.is_alive()

    def _deactivate(self: Any) -> bool:
        """Stop the worker (waiting for an inference in progress); False when an inference
        still runs after :data:`WORKER_JOIN_S`."""
        self._active = False
        if self._worker is None:
            return True
        self._stop.set()  # this worker's own: a later activation's never revives it
        self._slots.close()
        self._worker.join(timeout=WORKER_JOIN_S)
        if self._worker.is_alive():
            return False  # kept in _worker: nothing is freed or started under it
        self._worker = None
        return True

    def _cleanup(self: Any) -> None:
        """Release every topic and the model (idempotent). A worker that would not stop
        keeps the backend: freeing buffers under a running inference would crash."""
        stopped = self._deactivate()
        for timer in [*self._refresh_timers, self._diagnostics_timer]:
            if timer is not None:
                self.destroy_timer(timer)
        self._refresh_timers, self._diagnostics_timer = [], None
        for channel in getattr(self, "channels", {}).values():
            channel.destroy()
        self.channels = {}
        if getattr(self, "label_info_pub", None) is not None:
            self._destroy_output_publisher(self.label_info_pub)
            self.label_info_pub = None
        if getattr(self, "diagnostics_pub", None) is not None:
            self.destroy_publisher(self.diagnostics_pub)
            self.diagnostics_pub = None
        if self.RECONFIGURABLE:  # the next configure may load another model
            for name in MODEL_PARAMETERS:
                if self.has_parameter(name):
                    self.undeclare_parameter(name)
        if self.segmenter is None:
            return
        if stopped:
            self.backend.close()
        else:
            self.get_logger().warning(f"an inference still runs after {WORKER_JOIN_S:g} s: the "
                                      "backend is left for the process exit to free")
        self.segmenter = None

    # -- parameters ---------------------------------------------------------------

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        """Run-time parameters (overlay_alpha, jpeg_quality) at any time; a managed node's
        configure-time ones only while it is unconfigured (rclpy refuses read-only ones before
        this is called). Every value set is kept in ``params``, which the next configure and
        the cameras read."""
        for param in params:
            if param.name in MODEL_PARAMETERS and self.has_parameter(param.name):
                return SetParametersResult(successful=False, reason=f"{param.name} is read-only: "
                                           "it comes from the model (model_path)")
            spec = PARAMETERS_BY_NAME.get(param.name)
            if spec is None:
                continue
            reason = spec.check(param.value)
            if not reason and spec.read_only and self.segmenter is not None:
                reason = (f"{param.name} is read at configure: set it while the node is "
                          "unconfigured (after cleanup), then configure")
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for param in params:
            spec = PARAMETERS_BY_NAME.get(param.name)
            if spec is not None:  # kept for the next configure too
                self.params[param.name] = names_value(param.value) if spec.names \
                    else param.value
            if param.name == "overlay_alpha":  # the pipelines hold their own copy
                for channel in self.channels.values():
                    channel.pipeline.overlay_alpha = float(param.value)
        return SetParametersResult(successful=True)

    # -- frames -------------------------------------------------------------------

    def _work(self, stop: threading.Event) -> None:
        """Take the newest frame of each camera that has one (round robin), run them through
        the model together (one batch where the backend allows), publish each camera's;
        until ``stop``."""
        while not stop.is_set():
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

    def _failed(self: Any, channel: CameraChannel, exc: Exception) -> None:
        if self._active and self.context.ok():  # stopping, publishing fails: fine
            channel.fail(exc)

    # -- diagnostics --------------------------------------------------------------

    def _publish_diagnostics(self: Any) -> None:
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
        if self._active:
            statuses = [channel.status(now, self._slots.replaced[camera], shared)
                        for camera, channel in self.channels.items()]
        else:  # a managed node, configured and not active: say so, do not go stale
            values = [KeyValue(key=k, value=v)
                      for k, v in {"lifecycle_state": "inactive", **shared}.items()]
            statuses = [DiagnosticStatus(level=DiagnosticStatus.OK, name=channel.status_name,
                                         message=INACTIVE_MESSAGE, hardware_id=shared["device"],
                                         values=values)
                        for channel in self.channels.values()]
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def run_node(make_node: Callable[[], Node], doc: str, example: str, args: list[str] | None,
             name: str, ready: Callable[[Any], bool] = lambda node: True) -> int:
    """``main`` of the node executables: ``--help``, ROS set-up, the node made by
    ``make_node`` (a start-up failure: exit code 1 with the reason; SIGINT or SIGTERM: their
    codes), then spin until shutdown. ``ready(node)`` False: exit 0 without spinning."""
    exit_if_help(doc, NODE_PARAMETERS, example, args)
    tuned = keep_image_buffers()  # the process is ours alone: see fanet_ros.node.malloc_tuning
    if not init_ros(args, name):
        return 2
    logger = rclpy.logging.get_logger(name)
    if not tuned:
        user = user_malloc_settings()
        logger.info(f"malloc settings kept as started: {user}" if user
                    else "no glibc mallopt: image buffers are mapped afresh each frame")
    try:
        node = make_node()
    except BaseException as exc:
        rclpy.try_shutdown()
        signalled = startup_signals.exit_code()
        if signalled is not None:  # SIGINT / SIGTERM during start-up, whatever it interrupted
            raise SystemExit(signalled) from None
        if isinstance(exc, (ModelLoadError, StartupError)):
            logger.fatal(str(exc))
            return 1
        raise
    if not ready(node):
        node.destroy_node()
        rclpy.try_shutdown()
        return 0
    startup_signals.set_phase("running")
    executor = GuardedExecutor(node.callback_failures)  # type: ignore[attr-defined]
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
