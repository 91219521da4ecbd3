"""The camera model that goes with the node's outputs (``~/camera_info``).

As with image_pipeline, the input's ``sensor_msgs/CameraInfo`` is read from
``camera_info`` beside the image topic and republished with each output frame,
under the output's header; scaled like image_proc's resize node when the
outputs are at the model's size.

Only an info that describes the frame is passed on: its size (its ROI, or the full sensor
when no ROI is set, divided by the binning) must be the image's, and its matrices finite.
Any other info is withheld, with a throttled warning and the count
``frames_camera_info_withheld``: rescaling it from its own size would assume the image is
the calibrated one resized, which a crop or a different aspect ratio (1280x720 for 640x480
frames) makes wrong, and a wrong camera model silently misplaces every 3-D point while a
missing one is noticed. When no info has come at all a few seconds after the first frame,
the node says so once (``~/camera_info`` is then not published) and /diagnostics reports it
as ``camera_info``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo, RegionOfInterest

from fanet_ros.node.frame_notes import FrameNotes

KEPT = 16
"""Camera infos remembered for matching by stamp (a camera sends one per frame)."""
NO_INFO_NOTE_AFTER_S = 3.0
"""Seconds after the first frame before saying that no camera_info has come."""
WITHHELD = "camera_info_withheld"
"""The :class:`FrameNotes` kind of frames whose camera_info was not passed on."""


def camera_info_topic(image_topic: str) -> str:
    """``/ns/camera/image_raw`` -> ``/ns/camera/camera_info`` (image_transport's rule)."""
    namespace = image_topic.rsplit("/", 1)[0]
    return f"{namespace}/camera_info"


def scaled_camera_info(info: Any, scale_x: float, scale_y: float, header: Any) -> CameraInfo:
    """A copy of ``info`` for its image (the ROI, or the full sensor, divided by the binning)
    resized by ``scale_x`` x ``scale_y``, with ``header``.

    The crop, the binning and the resize are folded into the rows of the intrinsics K and
    the projection P that give pixel x (fx, skew, cx, Tx) and y (fy, cy, Ty): the result
    describes the output image itself (its size, no ROI, no binning), exactly as
    image_geometry reads it; image_proc's resize node leaves skew and Ty. Distortion and
    rectification stay.
    """
    roi = info.roi
    height, width = described_size(info)
    x0, y0 = (roi.x_offset, roi.y_offset) if roi_set(info) else (0, 0)
    sx, sy = scale_x / max(info.binning_x, 1), scale_y / max(info.binning_y, 1)
    out = CameraInfo(
        header=header, distortion_model=info.distortion_model,
        d=list(info.d), k=list(info.k), r=list(info.r), p=list(info.p),
        height=round(height * scale_y), width=round(width * scale_x),
        roi=RegionOfInterest(do_rectify=roi.do_rectify),
    )
    out.k[2], out.k[5] = info.k[2] - x0, info.k[5] - y0  # K = [fx s cx; 0 fy cy; 0 0 1]
    out.p[2], out.p[6] = info.p[2] - x0, info.p[6] - y0  # P = [fx' s cx' Tx; 0 fy' cy' Ty; ...]
    for i in range(3):
        out.k[i] *= sx
        out.k[3 + i] *= sy
    for i in range(4):
        out.p[i] *= sx
        out.p[4 + i] *= sy
    return out


class CameraInfoCache:
    """The last few camera infos by stamp; written by the subscription, read by the worker."""

    def __init__(self) -> None:
        self._by_stamp: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, info: Any) -> None:
        with self._lock:
            self._by_stamp[(info.header.stamp.sec, info.header.stamp.nanosec)] = info
            self._by_stamp.move_to_end((info.header.stamp.sec, info.header.stamp.nanosec))
            while len(self._by_stamp) > KEPT:
                self._by_stamp.popitem(last=False)

    def match(self, stamp: Any) -> Any | None:
        """The info with ``stamp``, else the newest one, else ``None``."""
        with self._lock:
            found = self._by_stamp.get((stamp.sec, stamp.nanosec))
            if found is None and self._by_stamp:
                found = next(reversed(self._by_stamp.values()))
            return found


def roi_set(info: Any) -> bool:
    """Whether ``info`` names a region of interest (all zeros, or no width: the full sensor)."""
    return bool(info.roi.width and info.roi.height)


def described_size(info: Any) -> tuple[int, int]:
    """``(height, width)`` of the images ``info`` describes, as image_geometry reads it: its
    ROI (the full sensor when unset) divided by the binning (0 and 1: none)."""
    bin_x, bin_y = max(info.binning_x, 1), max(info.binning_y, 1)
    if roi_set(info):
        return info.roi.height // bin_y, info.roi.width // bin_x
    return info.height // bin_y, info.width // bin_x


def camera_info_problem(info: Any, height: int, width: int) -> str:
    """Why ``info`` does not describe a ``height x width`` frame; ``""`` when it does."""
    if info.height == 0 or info.width == 0:
        return f"its size is {info.width}x{info.height} (WxH)"
    described = described_size(info)
    if (height, width) != described:
        roi = " (its ROI)" if roi_set(info) else ""
        return (f"it describes {described[1]}x{described[0]} images (WxH){roi} but the frame "
                f"is {width}x{height}")
    bad = [name for name, values in (("K", info.k), ("P", info.p), ("R", info.r), ("D", info.d))
           if not all(math.isfinite(v) for v in values)]
    if bad:
        return f"its {', '.join(bad)} hold NaN or infinite values"
    return ""


class CameraInfoRelay:
    """Camera infos in, the info for each output frame out (or ``None``, and why)."""

    def __init__(self, topic: str, notes: FrameNotes, info_log: Callable[[str], None]) -> None:
        self.topic = topic
        self.cache = CameraInfoCache()
        self._notes = notes
        self._info_log = info_log
        self._first_frame: float | None = None
        self._said_none = False
        self.state = f"none received yet on {topic}"
        """For /diagnostics: ``ok``, ``none received ...`` or ``withheld: ...``."""

    def put(self, info: Any) -> None:
        """The camera_info subscription's callback."""
        self.cache.put(info)

    def for_frame(
        self, header: Any, image_size: tuple[int, int], output_size: tuple[int, int]
    ) -> CameraInfo | None:
        """The info to publish with a frame of ``image_size`` whose outputs are
        ``output_size`` (both ``(height, width)``), under ``header``; ``None`` if there is
        none or it does not describe the frame."""
        info = self.cache.match(header.stamp)
        if info is None:
            self._no_info()
            return None
        problem = camera_info_problem(info, *image_size)
        if problem:
            self.state = f"withheld: {problem}"
            self._notes.note(WITHHELD, (
                f"~/camera_info withheld: the camera_info on {self.topic} does not fit the "
                f"frames: {problem}. Publish the calibration of the size the camera sends "
                "(set binning_x/binning_y or the ROI when it bins or crops)"
            ))
            return None
        self.state = "ok"
        height, width = output_size
        return scaled_camera_info(info, width / image_size[1], height / image_size[0], header)

    def _no_info(self) -> None:
        now = time.monotonic()
        if self._first_frame is None:
            self._first_frame = now
        elif not self._said_none and now - self._first_frame >= NO_INFO_NOTE_AFTER_S:
            self._said_none = True
            self.state = f"none received on {self.topic}"
            self._info_log(
                f"no camera_info on {self.topic} in {NO_INFO_NOTE_AFTER_S:g} s of frames: "
                "~/camera_info is not published until one comes (a camera driver publishes "
                "it beside the image; only 3-D use of the outputs needs it)"
            )
