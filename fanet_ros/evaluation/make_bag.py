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
import math
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Writer

from fanet_ros.dataset_layouts import (
    LAYOUTS,
    DatasetError,
    find_samples,
    label_set_for_layout,
    read_image,
    read_label,
)
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
from fanet_ros.evaluation.scratch_folder import ScratchFolder, remove_stale_scratch
from fanet_ros.preprocessing import resize_image, resize_labels
from fanet_ros.tooling.interrupts import interrupted, sigterm_unwinds

BAG_VERSION = 8
"""rosbag2 metadata version written (the oldest rosbags writes, for older ROS 2 players)."""

_types = TYPESTORE.types
CameraInfoMsg = _types[CAMERA_INFO_TYPE]
RegionOfInterest = _types["sensor_msgs/msg/RegionOfInterest"]
DEFAULT_TOPICS = BagTopics()
MIN_FPS, MAX_FPS = 1e-3, 1e6
"""Frame rates a bag can have: at least one frame per 1000 s, and stamps at least 1 us
apart (so that every frame has its own stamp)."""


class OutputPathError(BagError):
    """The output path cannot hold a bag (a file, under a file, not writable)."""


def fps_problem(fps: float) -> str:
    """Why ``fps`` is no frame rate for a bag; ``""`` when it is one."""
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        return f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, not {fps:g}"
    return ""


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
    removed_scratch: tuple[Path, ...] = ()
    """Scratch folders of killed writers removed first (fanet_ros.evaluation.scratch_folder)."""


def frames_from_dataset(
    root: str | Path,
    layout: str,
    split: str = "val",
    limit: int = 0,
    size: tuple[int, int] | None = None,
) -> Iterator[Frame]:
    """Frames of a dataset split in name order, optionally resized to ``size`` (H, W)."""
    samples = find_samples(root, layout, split, require_labels=False)
    classes = label_set_for_layout(layout, root).num_classes  # a folder's classes.json
    for sample in samples[:limit] if limit > 0 else samples:
        image = read_image(sample.image_path)
        label = read_label(sample.label_path, layout, classes) if sample.label_path else None
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

    The bag is written to a scratch folder beside ``out_path`` and renamed when
    complete: a failure (a bad frame, a full disk, Ctrl-C) leaves no partial bag
    behind, and with ``overwrite`` the old bag is replaced only by a finished one.
    Scratch folders that killed writers left in that folder are removed first.
    """
    if storage not in STORAGES:
        raise BagError(f"unknown storage {storage!r}; choose one of {', '.join(STORAGES)}")
    if fps_problem(fps):
        raise BagError(fps_problem(fps))
    out_path = Path(out_path).expanduser()
    _check_output(out_path, overwrite)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        stale = tuple(remove_stale_scratch(out_path.parent))
        scratch = ScratchFolder(out_path)
    except OSError as exc:
        raise OutputPathError(
            f"cannot write a bag at '{out_path}': {exc.strerror or exc}") from None
    partial = scratch.path / out_path.name  # the final name: the bag's files are named after it
    try:
        count, labelled = _write_frames(frames, partial, fps, storage, topics, frame_id, start_ns)
        if count == 0:
            raise BagError(f"no frames to write to '{out_path}'")
        if out_path.exists():
            shutil.rmtree(out_path)
        partial.rename(out_path)
    finally:
        scratch.remove()
    return BagSummary(out_path, storage, count, labelled, count / fps, stale)


def _check_output(out_path: Path, overwrite: bool) -> None:
    """Raise :class:`BagError` unless a bag can be written at ``out_path``."""
    parent = next((p for p in out_path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputPathError(f"cannot write a bag at '{out_path}': '{parent}' is a file")
    if out_path.exists() and not out_path.is_dir():
        raise OutputPathError(f"'{out_path}' is a file, not a bag folder; choose another path")
    if out_path.exists() and not overwrite:
        raise BagError(f"'{out_path}' already exists; remove it or pass --overwrite")
    if out_path.exists() and not (out_path / "metadata.yaml").exists():
        raise OutputPathError(
            f"'{out_path}' is a folder but no bag (no metadata.yaml): --overwrite replaces "
            "bags only; choose another path")


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


def _fps(text: str) -> float:
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fps must be a number, not {text!r}") from None
    if fps_problem(fps):
        raise argparse.ArgumentTypeError(fps_problem(fps))
    return fps


def _limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise argparse.ArgumentTypeError(
            f"limit must be a whole number >= 0 (0: all frames), not {text!r}")
    return limit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write a rosbag2 of camera frames and ground-truth labels."
    )
    parser.add_argument("dataset", help="dataset root folder")
    parser.add_argument("output", help="bag folder to create")
    parser.add_argument("--layout", choices=LAYOUTS, default="camvid")
    parser.add_argument("--split", default="val")
    parser.add_argument("--storage", choices=tuple(STORAGES), default="sqlite3")
    parser.add_argument("--fps", type=_fps, default=10.0,
                        help=f"frame rate of the stamps, {MIN_FPS:g} to {MAX_FPS:g}")
    parser.add_argument("--limit", type=_limit, default=0,
                        help="at most this many frames (0: all)")
    parser.add_argument("--resize", type=parse_size, metavar="HxW", help="resize frames first")
    parser.add_argument("--frame-id", default="camera")
    parser.add_argument("--image-topic", default=BagTopics.image)
    parser.add_argument("--camera-info-topic", default=BagTopics.camera_info)
    parser.add_argument("--ground-truth-topic", default=BagTopics.ground_truth)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command: exit 0 written, 1 bad input, 2 bad arguments or output path, 130/143
    interrupted (SIGINT/SIGTERM; nothing is left behind)."""
    args = build_parser().parse_args(argv)
    topics = BagTopics(args.image_topic, args.camera_info_topic, args.ground_truth_topic)
    try:
        with sigterm_unwinds():  # write_bag unwinds and removes its scratch folder
            frames = frames_from_dataset(args.dataset, args.layout, args.split, args.limit,
                                         args.resize)
            summary = write_bag(
                frames, args.output, args.fps, args.storage, topics, args.frame_id,
                overwrite=args.overwrite,
            )
    except OutputPathError as exc:
        print(f"make_bag: {exc}", file=sys.stderr)
        return 2
    except (BagError, DatasetError) as exc:
        print(f"make_bag: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit) as exc:
        return interrupted("make_bag", exc, f"no bag written to '{args.output}'")
    for scratch in summary.removed_scratch:
        print(f"removed '{scratch}', the scratch folder of an earlier run that was killed")
    print(
        f"wrote {summary.frames} frames ({summary.labelled_frames} with ground truth, "
        f"{summary.duration_s:.1f} s at {args.fps:g} fps) to {summary.storage} bag "
        f"'{summary.path}'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
