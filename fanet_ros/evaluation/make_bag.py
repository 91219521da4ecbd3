"""make_bag: write a rosbag2 (sqlite3 or mcap) from an image folder and its labels.

Each frame becomes a ``sensor_msgs/Image`` (rgb8) on the image topic, a
``sensor_msgs/CameraInfo`` and, when the frame has a label, a mono8
ground-truth image (class ids, 255 = void) with the same header stamp, at a
fixed frame rate. Library use::

    frames = frames_from_dataset("/data/camvid", "camvid", split="val")
    write_bag(frames, "camvid_val_bag", fps=10.0, storage="mcap")
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Writer

from fanet_ros.dataset_layouts import LAYOUTS, DatasetError, find_samples, read_image, read_label
from fanet_ros.evaluation.bag_io import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    STORAGES,
    TYPESTORE,
    BagError,
    BagTopics,
    make_header,
    serialize_image,
)
from fanet_ros.preprocessing import resize_image, resize_labels

BAG_VERSION = 8
"""rosbag2 metadata version written (the oldest rosbags writes, for older ROS 2 players)."""

_types = TYPESTORE.types
CameraInfoMsg = _types[CAMERA_INFO_TYPE]
RegionOfInterest = _types["sensor_msgs/msg/RegionOfInterest"]
DEFAULT_TOPICS = BagTopics()


@dataclass(frozen=True)
class Frame:
    """One camera frame and its ground truth."""

    image: np.ndarray
    """``[H, W, 3]`` uint8 RGB."""
    label: np.ndarray | None = None
    """``[H, W]`` uint8 class ids, 255 = void; ``None`` when unlabelled."""
    name: str = ""


@dataclass(frozen=True)
class BagSummary:
    path: Path
    storage: str
    frames: int
    labelled_frames: int
    duration_s: float


def frames_from_dataset(
    root: str | Path,
    layout: str,
    split: str = "val",
    limit: int = 0,
    size: tuple[int, int] | None = None,
) -> Iterator[Frame]:
    """Frames of a dataset split in name order, optionally resized to ``size`` (H, W)."""
    samples = find_samples(root, layout, split, require_labels=False)
    for sample in samples[:limit] if limit > 0 else samples:
        image = read_image(sample.image_path)
        label = read_label(sample.label_path, layout) if sample.label_path else None
        if size is not None:
            image = resize_image(image, *size)
            label = None if label is None else resize_labels(label, *size)
        yield Frame(image, label, sample.name)


def write_bag(
    frames: Iterable[Frame],
    out_path: str | Path,
    fps: float = 10.0,
    storage: str = "sqlite3",
    topics: BagTopics = DEFAULT_TOPICS,
    frame_id: str = "camera",
    start_ns: int | None = None,
    overwrite: bool = False,
) -> BagSummary:
    """Write ``frames`` as a bag at ``fps``; stamps start at ``start_ns`` (default: now).

    The bag is written to a temporary folder beside ``out_path`` and renamed when
    complete: a failure (a bad frame, a full disk, Ctrl-C) leaves no partial bag
    behind, and with ``overwrite`` the old bag is replaced only by a finished one.
    """
    if storage not in STORAGES:
        raise BagError(f"unknown storage {storage!r}; choose one of {', '.join(STORAGES)}")
    if fps <= 0:
        raise BagError(f"fps must be positive, not {fps}")
    out_path = Path(out_path).expanduser()
    if out_path.exists() and not overwrite:
        raise BagError(f"'{out_path}' already exists; remove it or pass --overwrite")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    partial = scratch / out_path.name  # the final name: the bag's files are named after it
    try:
        count, labelled = _write_frames(frames, partial, fps, storage, topics, frame_id, start_ns)
        if count == 0:
            raise BagError(f"no frames to write to '{out_path}'")
        if out_path.exists():
            shutil.rmtree(out_path)
        partial.rename(out_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BagSummary(out_path, storage, count, labelled, count / fps)


def _write_frames(
    frames: Iterable[Frame], path: Path, fps: float, storage: str, topics: BagTopics,
    frame_id: str, start_ns: int | None,
) -> tuple[int, int]:
    """Write the frames to a new bag folder ``path``; returns (frames, labelled frames)."""
    start_ns = time.time_ns() if start_ns is None else start_ns
    period_ns = round(1e9 / fps)
    count = labelled = 0
    with Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage]) as writer:
        add = writer.add_connection
        image_conn = add(topics.image, IMAGE_TYPE, typestore=TYPESTORE)
        info_conn = add(topics.camera_info, CAMERA_INFO_TYPE, typestore=TYPESTORE)
        label_conn = add(topics.ground_truth, IMAGE_TYPE, typestore=TYPESTORE)
        for count, frame in enumerate(frames, start=1):
            stamp_ns = start_ns + (count - 1) * period_ns
            header = make_header(stamp_ns, frame_id)
            _check_frame(frame)
            writer.write(image_conn, stamp_ns, serialize_image(frame.image, "rgb8", header))
            writer.write(info_conn, stamp_ns, _serialize_camera_info(frame.image.shape, header))
            if frame.label is not None:
                writer.write(label_conn, stamp_ns, serialize_image(frame.label, "mono8", header))
                labelled += 1
    return count, labelled


def _check_frame(frame: Frame) -> None:
    if frame.image.ndim != 3 or frame.image.shape[2] != 3 or frame.image.dtype != np.uint8:
        raise BagError(
            f"frame {frame.name!r}: image must be [H, W, 3] uint8 RGB, "
            f"not {frame.image.shape} {frame.image.dtype}"
        )
    if frame.label is not None and frame.label.shape != frame.image.shape[:2]:
        raise BagError(
            f"frame {frame.name!r}: label size {frame.label.shape} differs from image size "
            f"{frame.image.shape[:2]}"
        )


def _serialize_camera_info(shape: tuple[int, ...], header: object) -> memoryview:
    """Nominal pinhole intrinsics (focal length = width, centred): datasets ship none."""
    height, width = shape[:2]
    f, cx, cy = float(width), (width - 1) / 2.0, (height - 1) / 2.0
    msg = CameraInfoMsg(
        header=header, height=height, width=width, distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array([f, 0, cx, 0, f, cy, 0, 0, 1], dtype=np.float64),
        r=np.eye(3).reshape(-1), p=np.array([f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1, 0], dtype=float),
        binning_x=0, binning_y=0,
        roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )
    return TYPESTORE.serialize_cdr(msg, CAMERA_INFO_TYPE)


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` -> (H, W)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 360x480, not {text!r}") from None
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return height, width


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_bag", description="Write a rosbag2 of camera frames and ground-truth labels."
    )
    parser.add_argument("dataset", help="dataset root folder")
    parser.add_argument("output", help="bag folder to create")
    parser.add_argument("--layout", choices=LAYOUTS, default="camvid")
    parser.add_argument("--split", default="val")
    parser.add_argument("--storage", choices=tuple(STORAGES), default="sqlite3")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--limit", type=int, default=0, help="at most this many frames (0: all)")
    parser.add_argument("--resize", type=parse_size, metavar="HxW", help="resize frames first")
    parser.add_argument("--frame-id", default="camera")
    parser.add_argument("--image-topic", default=BagTopics.image)
    parser.add_argument("--camera-info-topic", default=BagTopics.camera_info)
    parser.add_argument("--ground-truth-topic", default=BagTopics.ground_truth)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    topics = BagTopics(args.image_topic, args.camera_info_topic, args.ground_truth_topic)
    try:
        frames = frames_from_dataset(args.dataset, args.layout, args.split, args.limit, args.resize)
        summary = write_bag(
            frames, args.output, args.fps, args.storage, topics, args.frame_id,
            overwrite=args.overwrite,
        )
    except (BagError, DatasetError) as exc:
        print(f"make_bag: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {summary.frames} frames ({summary.labelled_frames} with ground truth, "
        f"{summary.duration_s:.1f} s at {args.fps:g} fps) to {summary.storage} bag "
        f"'{summary.path}'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
