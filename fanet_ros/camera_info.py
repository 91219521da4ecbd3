"""The camera model that goes with the node's outputs (``~/camera_info``).

As with image_pipeline, the input's ``sensor_msgs/CameraInfo`` is read from
``camera_info`` beside the image topic and republished with each output frame,
under the output's header; scaled like image_proc's resize node when the
outputs are at the model's size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sensor_msgs.msg import CameraInfo, RegionOfInterest

KEPT = 16
"""Camera infos remembered for matching by stamp (a camera sends one per frame)."""


def camera_info_topic(image_topic: str) -> str:
    """``/ns/camera/image_raw`` -> ``/ns/camera/camera_info`` (image_transport's rule)."""
    namespace = image_topic.rsplit("/", 1)[0]
    return f"{namespace}/camera_info"


def scaled_camera_info(info: Any, scale_x: float, scale_y: float, header: Any) -> CameraInfo:
    """A copy of ``info`` for its image resized by ``scale_x`` x ``scale_y``, with ``header``.

    Scales the size, the intrinsics K, the projection P (fx, cx, Tx, fy, cy) and the
    ROI, as image_proc's resize node does; distortion, rectification and binning stay.
    """
    roi = info.roi
    out = CameraInfo(
        header=header, distortion_model=info.distortion_model,
        d=list(info.d), k=list(info.k), r=list(info.r), p=list(info.p),
        binning_x=info.binning_x, binning_y=info.binning_y,
        height=round(info.height * scale_y), width=round(info.width * scale_x),
        roi=RegionOfInterest(
            x_offset=round(roi.x_offset * scale_x), y_offset=round(roi.y_offset * scale_y),
            width=round(roi.width * scale_x), height=round(roi.height * scale_y),
            do_rectify=roi.do_rectify,
        ),
    )
    for i, scale in ((0, scale_x), (2, scale_x), (4, scale_y), (5, scale_y)):
        out.k[i] *= scale
    for i, scale in ((0, scale_x), (2, scale_x), (3, scale_x), (5, scale_y), (6, scale_y)):
        out.p[i] *= scale
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
