"""evaluator_node: score the segmentation node live against a ground-truth topic.

Run it beside the node while ``ros2 bag play`` plays a bag made by make_bag::

    ros2 run fanet_ros evaluator_node --ros-args -p output_dir:=eval_live

It pairs ``segmentation_node/label`` and ``camera/ground_truth`` messages (relative
names: a namespace moves them, ``-r`` remaps them) by header stamp (either may come
first), accumulates one confusion matrix (:mod:`fanet_ros.metrics`), publishes the
running mean IoU on ``~/mean_iou`` (std_msgs/Float32) and a JSON summary on ``~/summary``
(std_msgs/String), and writes report.json, report.md and the PNGs on shutdown. Latency here is the
label's arrival minus its ground truth's arrival: ``ros2 bag play`` publishes
image and ground truth together, and keeps the recorded stamps. Ground truth is mono8 or 8UC1.
Both subscriptions are reliable; for a best-effort publisher pass
``-p qos_overrides./camera/ground_truth.subscription.reliability:=best_effort``.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, String

from fanet_ros.evaluation.bag_io import BagTopics, Stamp, format_stamp, stamp_of, stamp_to_ns
from fanet_ros.evaluation.label_info import (
    LabelInfoError,
    label_set_for,
    label_set_from_label_info,
)
from fanet_ros.evaluation.replay import LABEL_QOS
from fanet_ros.evaluation.report import FrameCounts, Report, write_report
from fanet_ros.evaluation.scoring import FrameScorer
from fanet_ros.image_conversion import ImageConversionError, class_ids_from_msg
from fanet_ros.labels import LabelSet
from fanet_ros.node.arrival_time import subscribe_with_arrival
from fanet_ros.node.callback_guard import CallbackFailures, GuardedExecutor
from fanet_ros.node.malloc_tuning import keep_image_buffers
from fanet_ros.node.node_parameters import ParameterSpec, declare_parameters
from fanet_ros.node.node_usage import exit_if_help, init_ros
from fanet_ros.node.parameter_requests import guard_parameter_services
from fanet_ros.node.qos_profiles import LATCHED_QOS
from fanet_ros.node.steady_timer import steady_timer

PAIRING_WAIT_S = 2.0
"""Labels and ground truth both waiting unpaired this long are warned about."""
LATENCY_DEFINITION = ("label arrival minus the arrival of the ground truth with the same "
                      "stamp (the middleware's reception times)")
Pending = tuple[np.ndarray, int]
"""Labels ``[H, W]`` and their arrival time (ns)."""


LABEL_TOPIC = "segmentation_node/label"
"""The node's mono8 labels: relative, so a namespace moves it and ``-r`` remaps it; the
latched ``label_info`` is read beside wherever it resolves to."""
GROUND_TRUTH_TOPIC = BagTopics().ground_truth.lstrip("/")
"""mono8 (or 8UC1) ground truth with the images' stamps (relative, as :data:`LABEL_TOPIC`)."""

EVALUATOR_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("output_dir", "evaluation_report", "Folder for the report written on "
                  "shutdown; empty: no report."),
    ParameterSpec("dataset", "", "Class names (camvid, cityscapes, bdd100k); empty: from the "
                  "node's ~/label_info."),
    ParameterSpec("num_classes", 0, "Unnamed classes 0..N-1 when neither dataset nor "
                  "label_info is available; 0: unused.", int_range=(0, 254, 1)),
    ParameterSpec("publish_period", 1.0, "Seconds between ~/mean_iou and ~/summary messages.",
                  float_range=(0.01, 3600.0)),
    ParameterSpec("max_pending", 100, "Unpaired messages kept per side before the oldest is "
                  "given up as unmatched.", int_range=(1, 100000, 1)),
)
"""Declared as the segmentation node's are (fanet_ros.node.node_parameters)."""


class EvaluatorNode(Node):
    """Pairs labels with ground truth by stamp and keeps the running scores."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("evaluator_node", **kwargs)
        refused = CallbackFailures(self.get_logger().warning, "refused")
        guard_parameter_services(self, refused.record)
        p = self._declare_parameters()
        self.output_dir: str = p["output_dir"]
        self.max_pending: int = p["max_pending"]
        self.label_topic: str = self.resolve_topic_name(LABEL_TOPIC)
        self.ground_truth_topic: str = self.resolve_topic_name(GROUND_TRUTH_TOPIC)
        self.label_set: LabelSet | None = label_set_for(p["dataset"], p["num_classes"])
        self.scorer = FrameScorer(self.label_set) if self.label_set else None
        self.counts = FrameCounts()
        self.unmatched_stamps: list[str] = []
        self.latencies_ms: list[float] = []
        self.first_ns = self.last_ns = 0
        self.last_arrival_ns = self.last_pair_ns = 0
        """When the last message (either side) arrived, and the last pair formed (ns)."""
        self.pending_truth: OrderedDict[Stamp, Pending] = OrderedDict()
        self.pending_labels: OrderedDict[Stamp, Pending] = OrderedDict()
        self.waiting_for_classes: list[tuple[Stamp, np.ndarray, np.ndarray]] = []

        self.label_info_topic = info_topic = self.label_topic.rsplit("/", 1)[0] + "/label_info"
        # reliable and deep; qos_overrides.<topic>.subscription.reliability: best_effort for a
        # best-effort publisher (a reliable subscription does not match one at all)
        overridable = QoSOverridingOptions.with_default_policies()
        subscribe_with_arrival(self, Image, self.label_topic, self._on_label, LABEL_QOS,
                               qos_overriding_options=overridable)
        subscribe_with_arrival(self, Image, self.ground_truth_topic, self._on_truth, LABEL_QOS,
                               qos_overriding_options=overridable)
        self.create_subscription(String, info_topic, self._on_label_info, LATCHED_QOS)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.miou_pub = self.create_publisher(Float32, "~/mean_iou", qos)
        self.summary_pub = self.create_publisher(String, "~/summary", qos)
        steady_timer(self, p["publish_period"], self._publish_scores)
        self.get_logger().info(
            f"scoring '{self.label_topic}' against '{self.ground_truth_topic}'"
            + ("" if self.label_set else f"; classes from '{info_topic}'")
        )

    def _declare_parameters(self) -> dict[str, Any]:
        values, problems = declare_parameters(self, EVALUATOR_PARAMETERS)
        if problems:
            raise ValueError("invalid parameters: " + "; ".join(problems))
        return values

    # -- pairing ---------------------------------------------------------------

    def _on_label_info(self, msg: String) -> None:
        if self.label_set is not None:
            return
        try:
            self.label_set = label_set_from_label_info(msg.data)
        except LabelInfoError as exc:
            self.get_logger().error(str(exc))
            return
        self.scorer = FrameScorer(self.label_set)
        self.get_logger().info(f"classes: {self.label_set.name} ({self.label_set.num_classes})")
        waiting, self.waiting_for_classes = self.waiting_for_classes, []
        for stamp, truth, labels in waiting:
            self._score(stamp, truth, labels)

    def _on_label(self, msg: Image, received_ns: int) -> None:
        self._arrive(msg, received_ns, self.pending_labels, self.pending_truth, is_label=True)

    def _on_truth(self, msg: Image, received_ns: int) -> None:
        self.counts.ground_truth += 1
        self._arrive(msg, received_ns, self.pending_truth, self.pending_labels, is_label=False)

    def _arrive(self, msg: Image, now: int, mine: OrderedDict, theirs: OrderedDict,
                is_label: bool) -> None:
        """``now``: when ``msg`` arrived (ns, system clock), whenever this callback runs."""
        self.last_arrival_ns = max(self.last_arrival_ns, now)
        if is_label:
            self.counts.labels_received += 1
            self.first_ns = min(self.first_ns or now, now)
            self.last_ns = max(self.last_ns, now)
        try:
            labels = np.array(class_ids_from_msg(msg))
        except ImageConversionError as exc:
            topic = self.label_topic if is_label else self.ground_truth_topic
            if not is_label:
                self.unmatched_stamps.append(format_stamp(stamp_of(msg)))
            self.get_logger().error(f"'{topic}' {exc}; ignored", throttle_duration_sec=5.0)
            return
        stamp = stamp_of(msg)
        other = theirs.pop(stamp, None)
        if other is None:
            if stamp in mine:  # a second message of this stamp (a looped bag): the first is lost
                self._give_up(stamp, mine.pop(stamp), is_label)
            mine[stamp] = (labels, now)
            if len(mine) > self.max_pending:
                self._give_up(*mine.popitem(last=False), is_label)
            return
        self.last_pair_ns = max(self.last_pair_ns, now)
        label_ns, truth_ns = (now, other[1]) if is_label else (other[1], now)
        self.latencies_ms.append((label_ns - truth_ns) * 1e-6)
        truth, prediction = (other[0], labels) if is_label else (labels, other[0])
        self._score(stamp, truth, prediction)

    def _give_up(self, stamp: Stamp, _: Pending, is_label: bool) -> None:
        if is_label:
            self.counts.unexpected_labels += 1
        else:
            self.unmatched_stamps.append(format_stamp(stamp))

    def _score(self, stamp: Stamp, truth: np.ndarray, prediction: np.ndarray) -> None:
        if self.scorer is None:  # held until the classes are known, max_pending at most
            self.waiting_for_classes.append((stamp, truth, prediction))
            if len(self.waiting_for_classes) > self.max_pending:
                self.unmatched_stamps.append(format_stamp(self.waiting_for_classes.pop(0)[0]))
                self.get_logger().warning(
                    f"no classes yet (no dataset or num_classes parameter, nothing on "
                    f"'{self.label_info_topic}'): the oldest scored frames are given up",
                    throttle_duration_sec=5.0,
                )
            return
        try:
            self.scorer.add(truth, prediction, (format_stamp(stamp), None))
        except ValueError as exc:
            self.unmatched_stamps.append(format_stamp(stamp))
            self.get_logger().error(
                f"ground truth at stamp {format_stamp(stamp)} cannot be scored: {exc}",
                throttle_duration_sec=5.0,
            )

    # -- output ----------------------------------------------------------------

    def report(self) -> Report | None:
        """The report so far (pending ground truth counted as unmatched); None without classes."""
        if self.scorer is None or self.label_set is None:
            return None
        unmatched = self.unmatched_stamps + [format_stamp(s) for s in self.pending_truth]
        counts = FrameCounts(**vars(self.counts))
        counts.matched = self.scorer.frames
        counts.unmatched = counts.ground_truth - counts.matched
        counts.unexpected_labels += len(self.pending_labels)
        return Report(
            source=f"live: {self.label_topic} vs {self.ground_truth_topic}",
            mode="live",
            label_set=self.label_set,
            scores=self.scorer.confusion.scores(self.label_set),
            counts=counts,
            latencies_ms=np.asarray(self.latencies_ms, dtype=np.float64),
            duration_s=max(0, self.last_ns - self.first_ns) * 1e-9,
            latency_definition=LATENCY_DEFINITION,
            unmatched_stamps=unmatched,
            node={"label_topic": self.label_topic},
            samples=list(self.scorer.samples),
        )

    def unpaired_problem(self) -> str:
        """Why labels and ground truth keep arriving without pairing (their stamps differ):
        both sides wait, and for :data:`PAIRING_WAIT_S` of arrivals since the oldest of them
        came no pair formed. Empty otherwise, also for what a bag's end leaves unpaired (a
        frame the node dropped, an image without ground truth) while pairs kept forming."""
        if not self.pending_labels or not self.pending_truth:
            return ""
        oldest = max(next(iter(self.pending_labels.values()))[1],
                     next(iter(self.pending_truth.values()))[1], self.last_pair_ns)
        if self.last_arrival_ns - oldest < PAIRING_WAIT_S * 1e9:
            return ""
        label = next(iter(self.pending_labels))
        truth = min(self.pending_truth, key=lambda t: abs(stamp_to_ns(t) - stamp_to_ns(label)))
        return (
            f"{len(self.pending_labels)} labels and {len(self.pending_truth)} ground-truth "
            f"frames wait unpaired: they pair by identical header stamps, and the label at "
            f"{format_stamp(label)} has none (nearest ground truth {format_stamp(truth)}, "
            f"{(stamp_to_ns(truth) - stamp_to_ns(label)) * 1e-6:+.3f} ms): ground truth must "
            "carry its image's stamp (fanet-make-bag writes it so)"
        )

    def _publish_scores(self) -> None:
        problem = self.unpaired_problem()
        if problem:
            self.get_logger().warning(problem, throttle_duration_sec=10.0)
        report = self.report()
        if report is None or report.counts.matched == 0:
            return
        self.miou_pub.publish(Float32(data=float(report.mean_iou)))
        full = report.to_dict()
        summary = {k: full["scores"][k] for k in ("mean_iou", "pixel_accuracy")}
        summary |= {k: full[k] for k in ("frames", "latency_ms", "throughput_fps")}
        self.summary_pub.publish(String(data=json.dumps(summary)))

    def write_report(self) -> None:
        report = self.report()
        if not self.output_dir:
            return
        if report is None:
            self.get_logger().warning("no report written: the classes never became known")
            return
        write_report(report, self.output_dir)
        self.get_logger().info(
            f"mIoU {100 * report.mean_iou:.2f} % over {report.counts.matched} frames "
            f"({report.counts.unmatched} unmatched); report in '{self.output_dir}'"
        )


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run fanet_ros evaluator_node``; ``--help`` prints the usage."""
    exit_if_help(__doc__ or "", EVALUATOR_PARAMETERS, "-p output_dir:=eval_live", args)
    keep_image_buffers()
    if not init_ros(args, "evaluator_node"):
        return 2
    try:
        node = EvaluatorNode()
    except ValueError as exc:
        rclpy.logging.get_logger("evaluator_node").fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    executor = GuardedExecutor(CallbackFailures(node.get_logger().error))
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.write_report()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
