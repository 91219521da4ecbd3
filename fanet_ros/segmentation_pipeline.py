"""One frame's path from decoded image to label, colour and overlay images.

No ROS here: the node feeds it decoded images and publishes what it returns,
so benchmarks and tests drive the very same code.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.labels import IGNORE_LABEL
from fanet_ros.preprocessing import normalize, resize_image, resize_labels
from fanet_ros.runtime.base import InferenceBackend, labels_from_output

STAGES = ("convert", "preprocess", "inference", "postprocess", "publish")
"""Stages a frame is timed in; ``convert`` and ``publish`` are timed by the node."""

_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}
_TO_DISPLAY = {  # 4- and 1-channel inputs are shown as rgb8 / bgr8
    "rgba8": ("rgb8", cv2.COLOR_RGBA2RGB),
    "bgra8": ("bgr8", cv2.COLOR_BGRA2BGR),
    "mono8": ("rgb8", cv2.COLOR_GRAY2RGB),
}


class StageTimes:
    """Accumulated seconds per stage since the last :meth:`take`."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.frames = 0

    def add(self, stage: str, seconds: float) -> None:
        self.total[stage] += seconds

    def take(self) -> tuple[dict[str, float], int]:
        """Mean milliseconds per frame and stage, and the frame count; then reset."""
        frames = self.frames
        means = {s: 1000.0 * self.total[s] / frames for s in STAGES if frames and s in self.total}
        self.total.clear()
        self.frames = 0
        return means, frames


@dataclass
class FrameOutputs:
    """What one frame produced; ``None`` for outputs nobody asked for."""

    labels: np.ndarray | None
    """``[H, W]`` uint8 class ids, 255 = unknown."""
    color: np.ndarray | None
    """``[H, W, 3]`` uint8 in ``display_encoding`` channel order."""
    overlay: np.ndarray | None
    display_encoding: str
    """``rgb8`` or ``bgr8``: the order of ``color`` and ``overlay``."""


class Colorizer:
    """Class ids -> colours by lookup table; unknown ids are black."""

    def __init__(self, colors: tuple[tuple[int, int, int], ...]) -> None:
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: len(colors)] = np.asarray(colors, dtype=np.uint8)
        lut[IGNORE_LABEL] = 0
        self._lut = {"rgb8": lut, "bgr8": np.ascontiguousarray(lut[:, ::-1])}

    def __call__(self, labels: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
        return np.take(self._lut[encoding], labels, axis=0)


class SegmentationPipeline:
    """Preprocess, infer and postprocess one frame; reuses its buffers."""

    def __init__(self, backend: InferenceBackend, overlay_alpha: float = 0.5) -> None:
        self.backend = backend
        self.metadata = backend.metadata
        self.overlay_alpha = overlay_alpha
        self.colorizer = Colorizer(self.metadata.colors)
        self.times = StageTimes()
        h, w = backend.input_height, backend.input_width
        self._batch = np.empty((1, h, w, 3), dtype=np.float32)

    @property
    def model_size(self) -> tuple[int, int]:
        return self.backend.input_height, self.backend.input_width

    def preprocess(self, image: DecodedImage) -> tuple[np.ndarray, np.ndarray]:
        """The model batch ``[1, h, w, 3]`` and the resized input (its own channel order)."""
        h, w = self.model_size
        resized = resize_image(image.pixels, h, w)
        conversion = _TO_RGB.get(image.encoding)
        rgb = resized if conversion is None else cv2.cvtColor(resized, conversion)
        normalize(rgb, self.metadata.normalization, out=self._batch[0])
        return self._batch, resized

    def infer_labels(self, batch: np.ndarray) -> np.ndarray:
        """``[h, w]`` uint8 labels at model resolution."""
        return labels_from_output(self.backend.infer(batch), self.metadata.output)

    def predict(self, image: DecodedImage) -> np.ndarray:
        """Labels at model resolution for one image (what tests compare against)."""
        batch, _ = self.preprocess(image)
        return self.infer_labels(batch)

    def process(
        self,
        image: DecodedImage,
        want_labels: bool = True,
        want_color: bool = True,
        want_overlay: bool = True,
        at_input_resolution: bool = True,
    ) -> FrameOutputs:
        """Run the frame and build the requested outputs, timing each stage."""
        t0 = time.perf_counter()
        batch, resized = self.preprocess(image)
        t1 = time.perf_counter()
        labels = self.infer_labels(batch)
        t2 = time.perf_counter()
        base = image.pixels if at_input_resolution else resized
        if at_input_resolution:
            labels = resize_labels(labels, image.height, image.width)
        display_encoding = "bgr8" if image.encoding in ("bgr8", "bgra8") else "rgb8"
        color = overlay = None
        if want_color or want_overlay:
            color = self.colorizer(labels, display_encoding)
        if want_overlay:
            overlay = self._blend(base, image.encoding, color)
        t3 = time.perf_counter()
        self.times.add("preprocess", t1 - t0)
        self.times.add("inference", t2 - t1)
        self.times.add("postprocess", t3 - t2)
        return FrameOutputs(
            labels=labels if want_labels else None,
            color=color if want_color else None,
            overlay=overlay,
            display_encoding=display_encoding,
        )

    def _blend(self, base: np.ndarray, encoding: str, color: np.ndarray) -> np.ndarray:
        if encoding in _TO_DISPLAY:
            base = cv2.cvtColor(np.ascontiguousarray(base), _TO_DISPLAY[encoding][1])
        alpha = self.overlay_alpha
        return cv2.addWeighted(np.ascontiguousarray(base), 1.0 - alpha, color, alpha, 0.0)
