"""The node's outputs during a replay, written into a new bag (``bag_eval --record-outputs``).

Each output is written under its input frame's header stamp and frame_id and at the input's
recording time, in the input bag's storage format, so the drive and its segmentation play
back side by side in rviz2 or Foxglove. The bag appears under its name only when complete.
A thread of its own writes the bag (sqlite3 objects stay in the thread that made them), so
the subscriptions that hand it messages never wait on the disk.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from rclpy.serialization import serialize_message
from rosbags.rosbag2 import Writer

from fanet_ros.evaluation.bag_io import STORAGES, TYPESTORE, BagError, Stamp
from fanet_ros.evaluation.make_bag import BAG_VERSION

SUFFIX = "_segmentation"


def default_output_path(bag_path: Path) -> Path:
    """Beside the input: ``drive/``, ``drive.mcap`` or ``drive/drive_0.mcap`` (a file of a
    rosbag2 folder) -> ``drive_segmentation/``, never inside the input bag."""
    if bag_path.is_file() and (bag_path.parent / "metadata.yaml").is_file():
        bag_path = bag_path.parent
    name = bag_path.name
    if bag_path.is_file():
        for suffix in (".zstd", ".mcap", ".db3"):  # drive_0.mcap.zstd -> drive_0
            name = name.removesuffix(suffix)
    return bag_path.parent / f"{name}{SUFFIX}"


def storage_of(bag_path: Path) -> str:
    """The input's storage format: ``mcap`` or ``sqlite3`` (``drive_0.mcap.zstd``, a
    compressed file's, counts as its storage's)."""
    files = [bag_path] if bag_path.is_file() else list(bag_path.iterdir())
    return "mcap" if any(".mcap" in f.suffixes for f in files) else "sqlite3"


class OutputBag:
    """A new bag of output topics; a context manager that keeps the bag only on success."""

    def __init__(self, path: str | Path, storage: str, topics: dict[str, str]) -> None:
        """``topics``: topic name -> message type (``sensor_msgs/msg/Image``)."""
        self.path = Path(path).expanduser()
        if self.path.exists():
            raise BagError(f"'{self.path}' already exists; remove it or record elsewhere")
        self.storage = storage
        self.topics = dict(topics)
        self.written: dict[str, set[int]] = {topic: set() for topic in topics}
        """Frame indices written per topic (a frame sent twice is written once)."""
        self._scratch: Path | None = None
        self._queue: queue.SimpleQueue[tuple[str, int, bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def __enter__(self) -> OutputBag:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        opened = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._scratch / self.path.name, opened), name="outputs_bag"
        )
        self._thread.start()
        opened.wait()
        if self._error:
            self._finish(keep=False)
            raise BagError(f"cannot create '{self.path}': {self._error}")
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self._finish(keep=exc_type is None)

    def _finish(self, keep: bool) -> None:
        """Close the bag; give it its name if ``keep`` and it was written without a fault."""
        assert self._thread is not None and self._scratch is not None
        self._queue.put(None)
        self._thread.join()
        try:
            if keep and not self._error:
                (self._scratch / self.path.name).rename(self.path)
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)
        if self._error and keep:  # while another exception propagates, that one says more
            raise BagError(f"writing '{self.path}' failed: {self._error}")

    def _run(self, path: Path, opened: threading.Event) -> None:
        try:
            writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[self.storage])
            writer.open()
            connections = {
                topic: writer.add_connection(topic, msgtype, typestore=TYPESTORE)
                for topic, msgtype in self.topics.items()
            }
        except Exception as exc:  # rosbags, sqlite3 and mcap raise many types
            self._error = f"{type(exc).__name__}: {exc}"
            return
        finally:
            opened.set()
        try:
            while (item := self._queue.get()) is not None:
                topic, log_time_ns, data = item
                if not self._error:
                    writer.write(connections[topic], log_time_ns, data)
        except Exception as exc:  # rosbags, sqlite3 and mcap raise many types
            self._error = f"{type(exc).__name__}: {exc}"
        finally:
            writer.close()

    def write(self, topic: str, index: int, msg: Any, stamp: Stamp, log_time_ns: int) -> bool:
        """Write ``msg`` (an rclpy message whose header came from the input) for frame
        ``index`` under the input frame's ``stamp``; False if that frame is already there."""
        if self._error:
            raise BagError(f"writing '{self.path}' failed: {self._error}")
        if index in self.written[topic]:
            return False
        msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
        self._queue.put((topic, log_time_ns, serialize_message(msg)))
        self.written[topic].add(index)
        return True

    def counts(self) -> dict[str, int]:
        return {topic: len(indices) for topic, indices in self.written.items()}
