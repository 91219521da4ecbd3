"""bag_eval: replay a bag through the running segmentation node and score it.

One command does the whole evaluation::

    fanet-bag-eval camvid_val_bag -o eval_out --start-node --model-path model.onnx

Library use (what the demo calls)::

    report = evaluate_bag("camvid_val_bag", "eval_out", rate="lossless",
                          start_node_params={"model_path": "model.onnx"})
    print(report.mean_iou, report.latency_summary_ms()["p95"])

``lossless`` sends a frame only after the previous one came back (the
accuracy figure: nothing is dropped); ``realtime`` sends at the bag's
recorded timing, as the camera would, and counts what the node drops.

A bag without ground truth (a robot's own drive: no ``/camera/ground_truth``,
or ``--ground-truth-topic ""``) gets the latency and throughput report, each
class's share of the pixels over time and a flicker figure (pixels changing
class between consecutive frames). ``--record-outputs [PATH]`` writes the
node's label, colour, overlay and camera_info into a new bag beside the input
(``<bag>_segmentation``), under the input's stamps, for rviz2 or Foxglove.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo
from tqdm import tqdm

from fanet_ros.evaluation.bag_io import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    BagError,
    BagImage,
    BagReader,
    BagTopics,
    Stamp,
    format_stamp,
)
from fanet_ros.evaluation.label_info import LabelInfoError, label_set_for, label_set_from_label_info
from fanet_ros.evaluation.node_process import NodeProcess, NodeProcessError
from fanet_ros.evaluation.output_bag import OutputBag, default_output_path, storage_of
from fanet_ros.evaluation.replay import PlayedFrame, Replay, ReplayError
from fanet_ros.evaluation.report import (
    FrameCounts,
    Report,
    percent,
    percentiles_text,
    write_report,
)
from fanet_ros.evaluation.scoring import FrameScorer
from fanet_ros.image_conversion import as_rgb
from fanet_ros.labels import LabelSet
from fanet_ros.node.camera_info import camera_info_topic
from fanet_ros.tooling.arguments import int_at_least
from fanet_ros.tooling.interrupts import interrupted, sigterm_unwinds

RATES = ("lossless", "realtime")
DEFAULT_LABEL_TOPIC = "/segmentation_node/label"
LATENCY_DEFINITION = (
    "label received minus the image's header stamp; bag_eval restamps every image with the "
    "wall-clock time at which it publishes it (the node keeps the stamp on its outputs)"
)
_TOPICS = BagTopics()
SILENT_FRAMES = 3
"""Lossless replay gives up once this many frames in a row got no label (each after its
resends): the node has stopped answering, and waiting out the rest of the bag helps no one."""


class EvaluationError(RuntimeError):
    """The evaluation could not run; the message says why and what to do."""


@dataclass
class GroundTruth:
    """The image stamps of a bag in recording order and the labels by stamp, held as PNG
    (a label map compresses tens of times: a long bag's labels fit in memory)."""

    image_stamps: list[Stamp]
    labels: dict[Stamp, bytes]

    def label(self, stamp: Stamp) -> np.ndarray | None:
        """The ``[H, W]`` class ids for ``stamp``; ``None`` for a frame without them."""
        data = self.labels.get(stamp)
        if data is None:
            return None
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def png_label(labels: np.ndarray) -> bytes:
    """``[H, W]`` uint8 class ids as PNG (lossless, fast level)."""
    ok, data = cv2.imencode(".png", labels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise BagError(f"cannot hold a {labels.shape} label map as PNG")
    return data.tobytes()


def raw_image_topic(compressed_topic: str) -> str:
    """``/cam/image_raw/compressed`` -> ``/cam/image_raw`` (image_transport's names)."""
    base, _, last = compressed_topic.rpartition("/")
    return base if last == "compressed" and base else compressed_topic


def ground_truth_topic_of(reader: BagReader, requested: str | None) -> str:
    """The ground-truth topic to read: ``requested``; by default (``None``) make_bag's
    topic when the bag has it; ``""`` for none."""
    if requested is None:
        return _TOPICS.ground_truth if reader.has_topic(_TOPICS.ground_truth) else ""
    return requested


def load_ground_truth(reader: BagReader, image_topic: str, ground_truth_topic: str) -> GroundTruth:
    """Read the labels and check each has an image with the same stamp; ``""``: no labels."""
    reader.require_image_topic(image_topic, "image", compressed=True)
    if not ground_truth_topic:
        return GroundTruth(list(reader.stamps(image_topic)), {})
    reader.require_image_topic(ground_truth_topic, "ground-truth")
    labels: dict[Stamp, bytes] = {}
    for label in reader.images(ground_truth_topic, class_ids=True):
        where = (
            f"bag '{reader.path}', topic '{ground_truth_topic}', "
            f"stamp {format_stamp(label.stamp)}"
        )
        if label.stamp in labels:
            raise BagError(f"{where}: two ground-truth images share this stamp")
        labels[label.stamp] = png_label(np.ascontiguousarray(label.pixels[:, :, 0]))
    stamps: list[Stamp] = []
    seen: set[Stamp] = set()
    for stamp in reader.stamps(image_topic):  # not decoded here: once, when played
        if stamp in seen:
            raise BagError(
                f"bag '{reader.path}', topic '{image_topic}': two images share stamp "
                f"{format_stamp(stamp)}, so labels cannot be matched to them"
            )
        seen.add(stamp)
        stamps.append(stamp)
    stray = sorted(set(labels) - seen)
    if stray:
        shown = ", ".join(format_stamp(s) for s in stray[:5])
        raise BagError(
            f"bag '{reader.path}': {len(stray)} of {len(labels)} ground-truth images on "
            f"'{ground_truth_topic}' have no image with the same header stamp on '{image_topic}' "
            f"(e.g. {shown}); ground truth must carry its image's stamp"
        )
    return GroundTruth(stamps, labels)


class CameraInfos:
    """The bag's camera infos beside the image topic; each image gets the one with its
    stamp, else the latest before it (else the first)."""

    def __init__(self, reader: BagReader, image_topic: str) -> None:
        self.topic = camera_info_topic(image_topic)
        raw = reader.serialized_by_stamp(self.topic) if (
            reader.topics.get(self.topic) == CAMERA_INFO_TYPE
        ) else {}
        self._stamps = sorted(raw)
        self._infos = [deserialize_message(raw[s], CameraInfo) for s in self._stamps]

    def __bool__(self) -> bool:
        return bool(self._infos)

    def for_image(self, stamp: Stamp) -> CameraInfo | None:
        if not self._infos:
            return None
        at = bisect.bisect_right(self._stamps, stamp)
        return self._infos[max(0, at - 1)]


def output_topics(label_topic: str, with_camera_info: bool) -> dict[str, str]:
    """The node's outputs recorded by ``--record-outputs``: topic -> message type."""
    base = label_topic.rsplit("/", 1)[0]
    topics = {label_topic: IMAGE_TYPE, f"{base}/color": IMAGE_TYPE, f"{base}/overlay": IMAGE_TYPE}
    return topics | ({f"{base}/camera_info": CAMERA_INFO_TYPE} if with_camera_info else {})


def evaluate_bag(
    bag_path: str | Path,
    output_dir: str | Path | None = None,
    rate: str = "lossless",
    start_node_params: dict[str, Any] | None = None,
    image_topic: str = _TOPICS.image,
    ground_truth_topic: str | None = None,
    publish_topic: str | None = None,
    label_topic: str = DEFAULT_LABEL_TOPIC,
    label_info_topic: str | None = None,
    dataset: str = "",
    frame_timeout_s: float = 5.0,
    startup_timeout_s: float = 60.0,
    retries: int = 2,
    num_samples: int = 4,
    progress: bool = False,
    record_outputs: str | Path | None = None,
) -> Report:
    """Replay ``bag_path`` through the node and score its labels; writes the report if asked.

    ``ground_truth_topic``: ``None`` uses ``/camera/ground_truth`` when the bag has it,
    ``""`` none (no accuracy figures). ``record_outputs``: write the node's outputs into
    this new bag (``""``: ``<bag>_segmentation`` beside the input), in the input's storage.

    ``start_node_params``: start ``segmentation_node`` with these parameters
    (e.g. ``{"model_path": ...}``) for this run and stop it afterwards; ``None``
    evaluates a node that is already running. ``publish_topic`` (default: the
    bag's image topic, less ``/compressed`` for a CompressedImage topic, whose frames are
    decoded and sent raw) is where frames go; ``dataset`` names the classes if the
    node's ``~/label_info`` does not arrive.
    """
    if rate not in RATES:
        raise EvaluationError(f"rate must be one of {', '.join(RATES)}, not {rate!r}")
    label_info_topic = label_info_topic or label_topic.rsplit("/", 1)[0] + "/label_info"
    try:  # before the replay: a misspelt name fails at once, not after the node's warm-up
        fallback = label_set_for(dataset)
    except ValueError as exc:
        raise EvaluationError(f"dataset: {exc}") from None
    bag_path = Path(bag_path).expanduser()
    with BagReader(bag_path) as reader, ExitStack() as stack:
        truth = load_ground_truth(
            reader, image_topic, ground_truth_topic_of(reader, ground_truth_topic)
        )
        if not truth.image_stamps:
            raise BagError(f"bag '{bag_path}' has no messages on '{image_topic}'")
        # a CompressedImage topic (.../image_raw/compressed) is decoded here and sent raw, on
        # the image topic it belongs to, beside that topic's camera_info
        camera_topic = raw_image_topic(image_topic) if reader.is_compressed(image_topic) else (
            image_topic)
        publish_topic = publish_topic or camera_topic
        infos = CameraInfos(reader, camera_topic)
        outputs = None
        if record_outputs is not None:
            outputs = stack.enter_context(OutputBag(
                Path(record_outputs) if str(record_outputs) else default_output_path(bag_path),
                storage_of(bag_path), output_topics(label_topic, bool(infos)),
            ))
        try:
            node, check = None, _noop
            if start_node_params is not None:
                log_dir = output_dir or tempfile.mkdtemp(prefix="bag_eval_")
                log = Path(log_dir) / "node.log"
                node = stack.enter_context(NodeProcess(start_node_params, publish_topic, log))
                check = node.check_running
            replay = stack.enter_context(
                Replay(publish_topic, label_topic, label_info_topic, outputs)
            )
            first = next(reader.images(image_topic))
            replay.warm_up(first, startup_timeout_s, check, infos.for_image(first.stamp))
            label_set = _label_set(replay.label_info, fallback, label_info_topic)
            _play(reader, image_topic, truth, infos, replay, label_set, rate,
                  frame_timeout_s, retries, num_samples, progress, check)
            report = _report(bag_path, rate, label_set, truth, replay, node, label_topic)
        except (ReplayError, NodeProcessError, LabelInfoError) as exc:
            raise EvaluationError(f"evaluating bag '{bag_path}': {exc}") from None
    if output_dir is not None:
        write_report(report, output_dir)
    return report


def _noop() -> None:
    """Nothing to check when the node is not ours."""


def _label_set(label_info: str | None, fallback: LabelSet | None,
               label_info_topic: str) -> LabelSet:
    if label_info is not None:
        return label_set_from_label_info(label_info)
    if fallback is None:
        raise EvaluationError(
            f"no class names: nothing on '{label_info_topic}' (the node's latched "
            "~/label_info); pass --dataset camvid|cityscapes|bdd100k"
        )
    return fallback


def _play(
    reader: BagReader, image_topic: str, truth: GroundTruth, infos: CameraInfos, replay: Replay,
    label_set: LabelSet, rate: str, frame_timeout_s: float, retries: int, num_samples: int,
    progress: bool, check: Callable[[], None],
) -> None:
    """Send every frame (at the bag's pace or one at a time), checking after each that a node
    this run started is still running."""
    labelled = [  # without ground truth, any frame may be shown
        i for i, s in enumerate(truth.image_stamps) if s in truth.labels or not truth.labels
    ]
    shown = {labelled[int(i)] for i in np.linspace(0, len(labelled) - 1, num_samples)} if (
        labelled and num_samples > 0
    ) else set()
    replay.start(FrameScorer(label_set, max_samples=num_samples), truth.image_stamps[0])
    start_wall = time.monotonic()
    first_log_ns: int | None = None
    silent = incomplete = 0
    images = tqdm(reader.images(image_topic), total=len(truth.image_stamps), unit="frame",
                  desc=f"bag_eval {rate}", disable=not progress)
    for position, image in enumerate(images):
        frame = PlayedFrame(
            image.stamp,
            partial(truth.label, image.stamp),
            np.array(as_rgb(image.pixels, image.encoding)) if position in shown else None,
            image.log_time_ns,
            infos.for_image(image.stamp),
        )
        if rate == "realtime":
            first_log_ns = image.log_time_ns if first_log_ns is None else first_log_ns
            delay = start_wall + (image.log_time_ns - first_log_ns) * 1e-9 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            replay.send(image, frame)
            replay.raise_error()
            check()
            continue
        index = replay.send(image, frame)
        silent = 0 if _answered(replay, image, index, frame_timeout_s, retries) else silent + 1
        check()
        if replay.wait_for_outputs_too and not silent:
            incomplete = 0 if replay.recorded(index) else incomplete + 1
            if incomplete >= SILENT_FRAMES:
                replay.wait_for_outputs_too = False
                print(f"bag_eval: outputs of the last {incomplete} answered frames did not all "
                      f"arrive (each waited for {frame_timeout_s:g} s and resent {retries} "
                      "times): waiting for labels only from here; the report counts what is "
                      "missing", file=sys.stderr)
        if silent >= SILENT_FRAMES:
            raise ReplayError(
                f"no label for the last {silent} frames (each waited for {frame_timeout_s:g} s "
                f"and resent {retries} times): the node stopped answering at frame "
                f"{position + 2 - silent} of {len(truth.image_stamps)}")
    replay.drain(frame_timeout_s)
    replay.wait_for_outputs(frame_timeout_s)


def _answered(replay: Replay, image: BagImage, index: int, timeout_s: float, retries: int) -> bool:
    """Wait for frame ``index``'s label (and every output recorded), resending the frame
    ``retries`` times; whether its label came."""
    for _ in range(retries):
        if replay.wait_for(index, timeout_s):
            return True
        replay.resend(image, index)
    replay.wait_for(index, timeout_s)
    return index in replay.answered


def _report(
    bag_path: Path, rate: str, label_set: LabelSet, truth: GroundTruth, replay: Replay,
    node: NodeProcess | None, label_topic: str,
) -> Report:
    scorer = replay.scorer
    assert scorer is not None
    unmatched = [
        format_stamp(f.bag_stamp) for i, f in enumerate(replay.frames)
        if f.bag_stamp in truth.labels and i not in replay.answered
    ]
    with_truth = sum(f.bag_stamp in truth.labels for f in replay.frames)
    counts = FrameCounts(
        images_sent=len(replay.frames),
        labels_received=len(replay.answered),
        dropped=len(replay.frames) - len(replay.answered),
        ground_truth=len(truth.labels),
        matched=scorer.frames,
        unmatched=len(truth.labels) - scorer.frames,
        images_without_ground_truth=len(replay.frames) - with_truth,
        unexpected_labels=replay.unexpected,
    )
    duration = max(0, replay.last_received_ns - replay.first_received_ns) * 1e-9
    if node is not None:
        node_info: dict[str, Any] = {"command": " ".join(node.command), **node.parameters}
    else:
        node_info = {"label_topic": label_topic, "started_by_bag_eval": False}
    outputs_bag: dict[str, Any] = {}
    if replay.outputs is not None:
        outputs_bag = {"path": str(replay.outputs.path), "storage": replay.outputs.storage,
                       "messages": replay.outputs.counts(), "missing": replay.missing_outputs()}
    return Report(
        source=str(bag_path),
        mode=rate,
        label_set=label_set,
        scores=scorer.confusion.scores(label_set) if truth.labels else None,
        counts=counts,
        latencies_ms=np.asarray(replay.latencies_ms, dtype=np.float64),
        duration_s=duration,
        latency_definition=LATENCY_DEFINITION,
        unmatched_stamps=unmatched,
        node=node_info,
        samples=list(scorer.samples),
        temporal=replay.temporal,
        outputs_bag=outputs_bag,
    )


def parse_parameter(text: str) -> tuple[str, str]:
    """``name:=value`` (as after ``ros2 run ... -p``) -> (name, value)."""
    name, sep, value = text.partition(":=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"parameters look like name:=value, not {text!r}")
    return name, value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Replay a bag through the segmentation node; report accuracy and latency.",
    )
    parser.add_argument("bag", help="rosbag2 folder or .db3 / .mcap file")
    parser.add_argument("-o", "--output-dir", default="bag_eval_report",
                        help="where report.json, report.md and the PNGs go")
    parser.add_argument("--rate", choices=RATES, default="lossless",
                        help="lossless: wait for each label (accuracy); realtime: bag timing")
    parser.add_argument("--image-topic", default=_TOPICS.image,
                        help="camera topic in the bag: sensor_msgs/Image, or CompressedImage "
                        "(.../compressed: decoded and sent raw)")
    parser.add_argument("--ground-truth-topic", help=f"default: {_TOPICS.ground_truth} when the "
                        "bag has it; \"\" for none (latency, class share and flicker only)")
    parser.add_argument("--record-outputs", nargs="?", const="", metavar="PATH",
                        help="write the node's label, color, overlay and camera_info into a new "
                        "bag (default PATH: <bag>_segmentation beside the input), same storage")
    parser.add_argument("--publish-topic", help="topic the node listens on (default: the "
                        "bag's image topic, less /compressed for a CompressedImage topic)")
    parser.add_argument("--label-topic", default=DEFAULT_LABEL_TOPIC)
    parser.add_argument("--label-info-topic", help="default: ~/label_info next to the label topic")
    parser.add_argument("--dataset", default="", help="class names if ~/label_info is missing")
    parser.add_argument("--frame-timeout", type=_positive_seconds, default=5.0, metavar="S",
                        help="wait for each label (and, with --record-outputs, the frame's other "
                        "outputs) this long before resending (lossless)")
    parser.add_argument("--startup-timeout", type=_positive_seconds, default=60.0, metavar="S")
    parser.add_argument("--samples", type=int_at_least(0), default=4,
                        help="frames shown in frames.png")
    parser.add_argument("--no-progress", action="store_true")
    node = parser.add_argument_group("starting the node")
    node.add_argument("--start-node", action="store_true",
                      help="run segmentation_node for this evaluation (DDS kept on localhost)")
    node.add_argument("--model-path", help="the node's model_path parameter")
    node.add_argument("-p", "--param", type=parse_parameter, action="append", default=[],
                      metavar="NAME:=VALUE", help="a node parameter (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command: exit 0 scored, 1 bad input or nothing scored (no label came back, or none
    matched) or, lossless, an output of an answered frame missing from the outputs bag, 2 bad
    arguments,
    130/143 interrupted (SIGINT/SIGTERM; a node this run started is stopped)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    params = None
    if args.start_node:
        from fanet_ros.tooling.ros_env import explicit_ros_domain, use_local_ros_domain

        chosen = explicit_ros_domain() is None
        domain = use_local_ros_domain()
        if chosen:  # rviz2 or ros2 topic echo on the user's domain would see nothing
            print(f"bag_eval: the node and this replay use ROS_DOMAIN_ID={domain}, discovery "
                  "on localhost (export ROS_DOMAIN_ID to choose)", file=sys.stderr)
        params = dict(args.param)
        if args.model_path:
            params["model_path"] = args.model_path
    elif args.param or args.model_path:
        parser.error("--model-path and -p need --start-node")
    try:
        with sigterm_unwinds():  # evaluate_bag unwinds: the node it started is stopped
            report = evaluate_bag(
                args.bag, args.output_dir, args.rate, params,
                image_topic=args.image_topic, ground_truth_topic=args.ground_truth_topic,
                publish_topic=args.publish_topic, label_topic=args.label_topic,
                label_info_topic=args.label_info_topic, dataset=args.dataset,
                frame_timeout_s=args.frame_timeout, startup_timeout_s=args.startup_timeout,
                num_samples=args.samples, progress=not args.no_progress,
                record_outputs=args.record_outputs,
            )
    except (BagError, EvaluationError) as exc:
        print(f"bag_eval: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit) as exc:
        return interrupted("bag_eval", exc, "no report written")
    print(summary_line(report) + f" Report: {Path(args.output_dir) / 'report.md'}")
    if report.outputs_bag:
        print(f"Outputs bag: {report.outputs_bag['path']}")
    nothing = nothing_scored(report)
    if nothing:
        print(f"bag_eval: {nothing}", file=sys.stderr)
        return 1
    lacking = outputs_missing(report)
    if lacking:
        print(f"bag_eval: {lacking}", file=sys.stderr)
        return 1 if report.mode == "lossless" else 0
    return 0


def outputs_missing(report: Report) -> str:
    """What the outputs bag lacks of the answered frames; empty when it holds them all."""
    missing = report.outputs_bag.get("missing", {}) if report.outputs_bag else {}
    if not missing:
        return ""
    topics = ", ".join(f"{n} on '{t}'" for t, n in missing.items())
    return (f"the outputs bag lacks frames the node answered: {topics} of "
            f"{report.counts.labels_received} (lost between the node and this recorder: large "
            "images need config/fastdds_large_images.xml in the node's and this process, "
            "docs/node.md; in --rate realtime the node's outputs, kept five deep, also replace "
            "one not yet delivered)")


def nothing_scored(report: Report) -> str:
    """Why the run measured nothing (no label came back, or none matched the ground truth);
    empty when it measured something."""
    c = report.counts
    if c.labels_received == 0:
        return f"the node answered none of the {c.images_sent} frames sent"
    if report.scores is not None and c.matched == 0:
        return (f"no label matched any of the {c.ground_truth} ground-truth frames "
                f"({c.dropped} of {c.images_sent} frames dropped)")
    return ""


def summary_line(report: Report) -> str:
    """One line: accuracy (or flicker, without ground truth), latency and throughput."""
    c, lat = report.counts, report.latency_summary_ms()
    if report.scores is not None:
        head = (f"mIoU {percent(report.mean_iou, unit=' %')}, pixel accuracy "
                f"{percent(report.scores.pixel_accuracy, unit=' %')} over {c.matched} frames "
                f"({c.unmatched} unmatched, {c.dropped} dropped)")
    else:
        changed = report.temporal.stability_summary()["mean"] if report.temporal else None
        flicker = "n/a" if changed is None else f"{100 * changed:.2f} %"
        head = (f"no ground truth; {c.labels_received} of {c.images_sent} frames answered; "
                f"pixels changing class between frames: {flicker}")
    return (
        f"{head}; latency p50/p95/p99 {percentiles_text(lat)} ms; "
        f"{report.throughput_fps:.1f} fps."
    )


if __name__ == "__main__":
    sys.exit(main())
