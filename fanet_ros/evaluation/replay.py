"""Publish bag frames into the running node and collect its labels by header stamp.

Each image is restamped with the wall-clock time when it is published, so
latency = label received - stamp, on one clock; the stamp maps back to the
bag frame and its ground truth. A frame's camera_info goes out beside the
image under the same stamp. Every label feeds the class-share and flicker
timeline; with an :class:`OutputBag` the node's outputs are recorded under
the bag frame's stamp. Runs rclpy in its own context, so a caller that
already uses rclpy is not disturbed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String

from fanet_ros.evaluation.bag_io import (
    BagImage,
    Stamp,
    format_stamp,
    stamp_from_ns,
    stamp_of,
    stamp_to_ns,
)
from fanet_ros.evaluation.output_bag import OutputBag
from fanet_ros.evaluation.scoring import FrameSample, FrameScorer
from fanet_ros.evaluation.temporal import TemporalStats
from fanet_ros.image_conversion import fill_image_msg, image_from_msg
from fanet_ros.node.arrival_time import subscribe_with_arrival
from fanet_ros.node.camera_info import camera_info_topic
from fanet_ros.node.qos_profiles import LATCHED_QOS

IMAGE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
"""Reliable: matches the node's best-effort (sensor data) subscription too."""
LABEL_QOS = QoSProfile(
    depth=1000, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
)
"""Reliable and deep, so that no label is lost on the evaluator's side."""
WARMUP_PERIOD_S = 0.5
MESSAGE_TYPES: dict[str, type] = {"sensor_msgs/msg/Image": Image,
                                  "sensor_msgs/msg/CameraInfo": CameraInfo}


class ReplayError(RuntimeError):
    """The node did not answer, or answered with something that is not a label image."""


@dataclass
class PlayedFrame:
    """A bag frame on its way through the node."""

    bag_stamp: Stamp
    ground_truth: Callable[[], np.ndarray | None] | None
    """Decodes the frame's class ids when its answer comes (a frame the node drops never
    holds them decoded: a long realtime replay would keep them all)."""
    image: np.ndarray | None
    """Kept only for frames shown in the report."""
    log_time_ns: int = 0
    """When the bag recorded the image (the outputs are recorded at the same time)."""
    camera_info: Any = None
    """The bag's ``sensor_msgs/CameraInfo`` for this image (rclpy), published beside it."""


class Replay:
    """A publisher of images and a collector of labels; a context manager."""

    def __init__(
        self, publish_topic: str, label_topic: str, label_info_topic: str,
        outputs: OutputBag | None = None,
    ) -> None:
        """``outputs``: record the node's outputs on these topics (``label_topic`` among
        them) into this open bag."""
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node("bag_eval", context=self.context)
        self.publisher = self.node.create_publisher(Image, publish_topic, IMAGE_QOS)
        self.info_publisher = self.node.create_publisher(
            CameraInfo, camera_info_topic(publish_topic), IMAGE_QOS
        )
        self.label_topic = label_topic
        self.outputs = outputs
        self.scorer: FrameScorer | None = None
        self.temporal: TemporalStats | None = None
        self.frames: list[PlayedFrame] = []
        self.sent: dict[Stamp, int] = {}
        self.answered: set[int] = set()
        """Frames answered and scored."""
        self.claimed: set[int] = set()
        """Frames whose first answer has come (scored, or being scored)."""
        self.warmup_stamps: set[Stamp] = set()
        self.warm_topics: set[str] = set()
        """Output topics that answered a warm-up frame."""
        self.expected_topics = {label_topic}
        """Output topics that must answer before the replay starts (and for every frame)."""
        self.wait_for_outputs_too = outputs is not None
        """Whether :meth:`wait_for` also waits for a frame's recorded outputs."""
        self.label_info: str | None = None
        self.latencies_ms: list[float] = []
        self.unexpected = 0
        self.first_received_ns = self.last_received_ns = 0
        self.error: str | None = None
        self._cond = threading.Condition()
        subscribe_with_arrival(self.node, Image, label_topic, self._on_label, LABEL_QOS)
        self.node.create_subscription(String, label_info_topic, self._on_label_info, LATCHED_QOS)
        for topic, msgtype in (outputs.topics if outputs else {}).items():
            if topic != label_topic:
                self.node.create_subscription(
                    MESSAGE_TYPES[msgtype], topic, partial(self._on_output, topic), LABEL_QOS
                )
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._executor.spin, daemon=True)
        self._spinner.start()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.context.try_shutdown()
        self._spinner.join(timeout=2.0)

    # -- publishing -------------------------------------------------------------

    @property
    def warmed_up(self) -> bool:
        return self.expected_topics <= self.warm_topics

    def warm_up(
        self, image: BagImage, timeout_s: float, check: Callable[[], None],
        camera_info: Any = None,
    ) -> None:
        """Publish ``image`` (and its ``camera_info``) until the node answers on every
        expected topic (model loaded, topics connected)."""
        if self.outputs is not None:
            self.expected_topics = {
                topic for topic, msgtype in self.outputs.topics.items()
                if camera_info is not None or MESSAGE_TYPES[msgtype] is not CameraInfo
            }
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            check()
            with self._cond:
                self.warmup_stamps.add(self._publish(image, camera_info))
                self._cond.wait_for(lambda: self.warmed_up or self.error, WARMUP_PERIOD_S)
                self.raise_error()  # e.g. the label topic carries colour images
                if self.warmed_up:
                    self._cond.wait_for(lambda: self.label_info is not None, 2.0)
                    return
        missing = ", ".join(f"'{t}'" for t in sorted(self.expected_topics - self.warm_topics))
        raise ReplayError(
            f"nothing on {missing} within {timeout_s:g} s of publishing on "
            f"'{self.publisher.topic_name}' (subscribers there: "
            f"{self.publisher.get_subscription_count()}); is the segmentation node running, "
            f"with its image topic remapped to '{self.publisher.topic_name}'?"
        )

    def start(self, scorer: FrameScorer, first_stamp: Stamp | None = None) -> None:
        """Score answers from now on; ``first_stamp``: the bag's first frame's, which the
        timeline counts from."""
        self.scorer = scorer
        self.temporal = TemporalStats(scorer.label_set.num_classes,
                                      first_ns=None if first_stamp is None
                                      else stamp_to_ns(first_stamp))

    def send(self, image: BagImage, frame: PlayedFrame) -> int:
        """Publish a new frame; returns its index."""
        with self._cond:
            self.frames.append(frame)
            index = len(self.frames) - 1
            self.sent[self._publish(image, frame.camera_info)] = index
            return index

    def resend(self, image: BagImage, index: int) -> None:
        """Publish frame ``index`` again under a new stamp (lossless retry)."""
        with self._cond:
            self.sent[self._publish(image, self.frames[index].camera_info)] = index

    def _publish(self, image: BagImage, camera_info: Any = None) -> Stamp:
        stamp = stamp_from_ns(time.time_ns())
        header = Header(frame_id=image.frame_id, stamp=TimeMsg(sec=stamp[0], nanosec=stamp[1]))
        if camera_info is not None:  # first, so the node has it when the image comes
            camera_info.header = header
            self.info_publisher.publish(camera_info)
        self.publisher.publish(fill_image_msg(Image(), image.pixels, image.encoding, header))
        return stamp

    # -- waiting ----------------------------------------------------------------

    def complete(self, index: int) -> bool:
        """Whether frame ``index`` is answered and, while :attr:`wait_for_outputs_too`, recorded
        on every expected output topic."""
        return index in self.answered and (not self.wait_for_outputs_too or self.recorded(index))

    def recorded(self, index: int) -> bool:
        """Whether frame ``index`` is recorded on every expected output topic (or nothing is
        recorded)."""
        with self._cond:
            return self.outputs is None or all(
                index in self.outputs.written[topic] for topic in self.expected_topics)

    def wait_for(self, index: int, timeout_s: float) -> bool:
        """Wait until frame ``index`` is :meth:`complete`; False on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self.complete(index) or self.error, timeout_s)
            self.raise_error()
            return self.complete(index)

    def drain(self, quiet_s: float) -> None:
        """Wait until every frame is answered or nothing arrived for ``quiet_s`` seconds."""
        with self._cond:
            while len(self.answered) < len(self.frames):
                before = len(self.answered)
                self._cond.wait_for(
                    lambda n=before: len(self.answered) > n or self.error, quiet_s
                )
                self.raise_error()
                if len(self.answered) == before:
                    return

    def wait_for_outputs(self, quiet_s: float) -> None:
        """Wait until every answered frame is recorded on every expected output topic, or
        nothing was recorded for ``quiet_s`` seconds."""
        if self.outputs is None:
            return
        written = self.outputs.written

        def recorded() -> int:
            return sum(len(written[t]) for t in self.expected_topics)

        with self._cond:
            while self.missing_outputs():
                before = recorded()
                self._cond.wait_for(lambda n=before: recorded() > n or self.error, quiet_s)
                self.raise_error()
                if recorded() == before:
                    return

    def missing_outputs(self) -> dict[str, int]:
        """Answered frames not recorded, per expected output topic that lacks any."""
        if self.outputs is None:
            return {}
        with self._cond:
            missing = {topic: len(self.answered - self.outputs.written[topic])
                       for topic in sorted(self.expected_topics)}
        return {topic: count for topic, count in missing.items() if count}

    def raise_error(self) -> None:
        if self.error:
            raise ReplayError(self.error)

    # -- receiving (executor thread) ---------------------------------------------

    def _on_label_info(self, msg: String) -> None:
        with self._cond:
            self.label_info = msg.data
            self._cond.notify_all()

    def _on_label(self, msg: Image, received_ns: int) -> None:
        """Claim the frame under the lock, score it outside (the publisher, pacing a realtime
        replay, needs the lock; scoring a large frame takes tens of ms), then answer it."""
        stamp = stamp_of(msg)
        index, error = None, None
        with self._cond:
            try:
                index = self._claim_label(msg, stamp, received_ns)
            except Exception as exc:  # surfaced in the main thread, never lost here
                error = str(exc)
        try:
            if index is not None:  # scorer and temporal statistics: this thread only
                self._score_label(msg, index)
        except Exception as exc:
            error = str(exc)
        with self._cond:
            try:
                if index is not None:
                    self.answered.add(index)  # after scoring: the report waits for answers
                self._record(self.label_topic, msg, stamp)
            except Exception as exc:
                error = error or str(exc)
            if error:
                self.error = error
            self._cond.notify_all()

    def _on_output(self, topic: str, msg: Any) -> None:
        stamp = stamp_of(msg)
        with self._cond:
            try:
                if stamp in self.warmup_stamps:
                    self.warm_topics.add(topic)
                self._record(topic, msg, stamp)
            except Exception as exc:  # surfaced in the main thread, never lost here
                self.error = f"recording '{topic}': {type(exc).__name__}: {exc}"
            self._cond.notify_all()

    def _record(self, topic: str, msg: Any, stamp: Stamp) -> None:
        """Write an output of a replayed frame into the outputs bag, under the bag's stamp."""
        index = self.sent.get(stamp)
        if self.outputs is None or index is None or self.scorer is None:
            return
        frame = self.frames[index]
        self.outputs.write(topic, index, msg, frame.bag_stamp, frame.log_time_ns)

    def _claim_label(self, msg: Image, stamp: Stamp, received_ns: int) -> int | None:
        """The index of the frame ``msg`` answers first (its latency recorded), else None."""
        if msg.encoding != "mono8":
            raise ReplayError(
                f"'{self.label_topic}' carries {msg.encoding} images, not mono8 class ids: "
                "point the label topic at the node's ~/label"
            )
        if stamp in self.warmup_stamps:
            self.warm_topics.add(self.label_topic)
            return None
        index = self.sent.get(stamp)
        if index is None or self.scorer is None:
            self.unexpected += 1
            return None
        if index in self.claimed:  # a late answer to a frame sent again
            return None
        self.claimed.add(index)
        self.first_received_ns = min(self.first_received_ns or received_ns, received_ns)
        self.last_received_ns = max(self.last_received_ns, received_ns)
        self.latencies_ms.append((received_ns - stamp_to_ns(stamp)) * 1e-6)
        return index

    def _score_label(self, msg: Image, index: int) -> None:
        assert self.scorer is not None and self.temporal is not None
        frame = self.frames[index]
        prediction = np.array(image_from_msg(msg).pixels[:, :, 0])
        self.temporal.add(index, stamp_to_ns(frame.bag_stamp), prediction)
        load_truth, image = frame.ground_truth, frame.image
        frame.ground_truth = frame.image = None  # scored once: a long bag's frames are let go
        truth = None if load_truth is None else load_truth()
        if truth is None:
            if image is not None:
                stamp_text = format_stamp(frame.bag_stamp)
                self.scorer.keep(FrameSample(stamp_text, image, None, prediction))
            return
        try:
            sample = None if image is None else (format_stamp(frame.bag_stamp), image)
            self.scorer.add(truth, prediction, sample)
        except ValueError as exc:
            raise ReplayError(
                f"ground truth at stamp {format_stamp(frame.bag_stamp)} cannot be scored "
                f"against the model's {self.scorer.label_set.num_classes} classes: {exc}"
            ) from None
