"""One frame's path from decoded image to label, colour and overlay images.

No ROS here: the node feeds it decoded images and publishes what it returns,
so benchmarks and tests drive the very same code.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from fanet_ros.colorize import Colorizer
from fanet_ros.image_conversion import DecodedImage, as_rgb, message_array
from fanet_ros.label_upsampling import ClassArgmax, LogitsUpsampler
from fanet_ros.preprocessing import NEAREST, normalize, resize_image, resize_labels
from fanet_ros.runtime.base import (
    InferenceBackend,
    NonFiniteOutputError,
    labels_from_output,
    nonfinite_values,
)

STAGES = ("convert", "preprocess", "inference", "postprocess", "publish")
"""Stages a frame is timed in; ``convert`` and ``publish`` are timed by the node."""

_TO_DISPLAY = {  # 4- and 1-channel inputs are shown as rgb8 / bgr8
    "rgba8": ("rgb8", cv2.COLOR_RGBA2RGB),
    "bgra8": ("bgr8", cv2.COLOR_BGRA2BGR),
    "mono8": ("rgb8", cv2.COLOR_GRAY2RGB),
}


class StageTimes:
    """Accumulated seconds per stage since the last :meth:`take`.

    Written by the worker, read by the diagnostics timer: both hold :attr:`lock`
    (re-entrant; the node takes it for its other statistics too).
    """

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.frames = 0
        self.lock = threading.RLock()

    def add(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.total[stage] += seconds

    def take(self) -> tuple[dict[str, float], int]:
        """Mean milliseconds per frame and stage, and the frame count; then reset. With no
        frame finished since the last call nothing is reset: the stages of a frame still in
        flight count with it when it is published."""
        with self.lock:
            frames = self.frames
            if not frames:
                return {}, 0
            means = {s: 1000.0 * self.total[s] / frames for s in STAGES if s in self.total}
            self.total.clear()
            self.frames = 0
        return means, frames


@dataclass
class FrameOutputs:
    """What one frame produced; ``None`` for outputs nobody asked for."""

    labels: np.ndarray | None
    """``[H, W]`` uint8 class ids, 255 = unknown.

    ``labels``, ``color`` and ``overlay`` may be the pipeline's reused buffers:
    valid until its next :meth:`SegmentationPipeline.process` call.
    """
    color: np.ndarray | None
    """``[H, W, 3]`` uint8 in ``display_encoding`` channel order."""
    overlay: np.ndarray | None
    display_encoding: str
    """``rgb8`` or ``bgr8``: the order of ``color`` and ``overlay``."""
    confidence: np.ndarray | None = None
    """``[H, W]`` uint8, 255 x the winning class's softmax probability (logits and
    probabilities models; ``None`` for a labels model, which has no scores)."""


class BufferPool:
    """Named arrays reused from frame to frame; reallocated only when the shape changes.

    uint8 arrays come from :func:`message_array`, so publishing them costs no copy.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = np.empty(shape, dtype) if dtype != np.uint8 else message_array(shape)
            self._arrays[name] = array
        return array

    def nbytes(self) -> int:
        """Bytes the pool holds."""
        return sum(array.nbytes for array in self._arrays.values())


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
        self._argmax = ClassArgmax() if self.metadata.output == "probabilities" else None
        self._upsampler = LogitsUpsampler() if self.metadata.output == "logits" else None
        self._buffers = BufferPool()

    def buffer_bytes(self) -> int:
        """Bytes held between frames by the reused output buffers."""
        return self._buffers.nbytes()

    @property
    def model_size(self) -> tuple[int, int]:
        return self.backend.input_height, self.backend.input_width

    def preprocess(
        self, image: DecodedImage, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model batch ``[1, h, w, 3]`` and the resized input (its own channel order);
        with ``out`` (one ``[h, w, 3]`` row of a larger batch) the frame is written there."""
        h, w = self.model_size
        resized = resize_image(image.pixels, h, w)
        rgb = as_rgb(resized, image.encoding)
        normalize(rgb, self.metadata.normalization, out=self._batch[0] if out is None else out)
        return self._batch, resized

    def infer_labels(self, batch: np.ndarray) -> np.ndarray:
        """``[h, w]`` uint8 labels at model resolution."""
        return self.labels_from(self.backend.infer(batch))

    def labels_from(self, output: np.ndarray) -> np.ndarray:
        """``[h, w]`` uint8 labels at model resolution from the backend's raw output."""
        if self._upsampler is not None:
            return self._upsampler.labels(output[0], self.model_size)
        if self._argmax is not None and output.ndim == 4 and output.dtype == np.float32:
            return self._argmax(output)
        return labels_from_output(output, self.metadata.output)

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
        want_confidence: bool = False,
    ) -> FrameOutputs:
        """Run the frame and build the requested outputs, timing each stage; raises
        :class:`NonFiniteOutputError` when the model's output is not finite.

        A logits model's labels (and confidence) are computed at the output size directly,
        exactly as a full-resolution bilinear head would give them
        (:mod:`fanet_ros.label_upsampling`); other models' are resized nearest-neighbour.
        """
        t0 = time.perf_counter()
        batch, resized = self.preprocess(image)
        t1 = time.perf_counter()
        output = self.backend.infer(batch)
        self.times.add("preprocess", t1 - t0)
        self.times.add("inference", time.perf_counter() - t1)
        return self.postprocess(image, resized, output, want_labels, want_color, want_overlay,
                                at_input_resolution, want_confidence)

    def postprocess(
        self,
        image: DecodedImage,
        resized: np.ndarray,
        output: np.ndarray,
        want_labels: bool = True,
        want_color: bool = True,
        want_overlay: bool = True,
        at_input_resolution: bool = True,
        want_confidence: bool = False,
    ) -> FrameOutputs:
        """The requested outputs from the backend's raw ``output`` for this one frame
        (``[1, ...]``); timed as ``postprocess``. See :meth:`process`."""
        t2 = time.perf_counter()
        bad = nonfinite_values(output)
        if bad:
            raise NonFiniteOutputError(f"the model's output holds {bad}: no labels from it")
        size = (image.height, image.width) if at_input_resolution else self.model_size
        confidence = None
        if self._upsampler is not None:
            found = self._upsampler.refine(output[0], size, self._buffers.get("labels", size))
            labels = found.labels
            if want_confidence:
                confidence = self._upsampler.confidence(found, self._buffers.get("conf", size))
        else:
            labels = self.labels_from(output)  # arg-max counts as postprocessing
            if want_confidence and self.metadata.output == "probabilities":
                confidence = self._probability_confidence(output, labels, size)
        shown_as = display_encoding(image.encoding)
        color = overlay = None
        if want_color or want_overlay:
            color = self._color(labels, shown_as, image if at_input_resolution else None)
        if want_labels and at_input_resolution:
            full = self._buffers.get("labels", (image.height, image.width))
            labels = resize_labels(labels, image.height, image.width, out=full)
        if want_overlay:
            base = image.pixels if at_input_resolution else resized
            overlay = self._blend(base, image.encoding, color)
        self.times.add("postprocess", time.perf_counter() - t2)
        return FrameOutputs(
            labels=labels if want_labels else None,
            color=color if want_color else None,
            overlay=overlay,
            display_encoding=shown_as,
            confidence=confidence,
        )

    def _probability_confidence(self, output: np.ndarray, labels: np.ndarray,
                                size: tuple[int, int]) -> np.ndarray:
        """mono8 winning probability of a probabilities model, bilinearly resized to ``size``.

        The winner's probability is read at ``labels`` (the arg-max at model size): the same
        value as ``max`` over the class axis, about 8x faster for 11 classes at 384x512."""
        winner = np.take_along_axis(output[0], labels[..., None].astype(np.intp), axis=-1)
        peak = np.rint(winner[..., 0] * 255.0).astype(np.uint8)
        full = self._buffers.get("conf", size)
        if peak.shape == size:
            full[...] = peak
            return full
        return cv2.resize(peak, (size[1], size[0]), dst=full, interpolation=cv2.INTER_LINEAR)

    def _color(
        self, labels: np.ndarray, encoding: str, full_size: DecodedImage | None
    ) -> np.ndarray:
        """Colours at model resolution; nearest-resized to ``full_size`` when given.

        Colouring before the nearest-neighbour resize gives the same pixels as
        colouring resized labels, on 4x fewer of them for a 2x larger input.
        """
        small = self._buffers.get("color_model", (*labels.shape, 3))
        self.colorizer(labels, encoding, out=small)
        if full_size is None or small.shape[:2] == (full_size.height, full_size.width):
            return small
        full = self._buffers.get("color", (full_size.height, full_size.width, 3))
        return cv2.resize(small, (full_size.width, full_size.height), dst=full,
                          interpolation=NEAREST)

    def _blend(self, base: np.ndarray, encoding: str, color: np.ndarray) -> np.ndarray:
        """``base`` and ``color`` mixed by ``overlay_alpha`` into a reused buffer."""
        overlay = self._buffers.get("overlay", color.shape)
        return blend(base, encoding, color, self.overlay_alpha, out=overlay)


def display_encoding(encoding: str) -> str:
    """The channel order of colour and overlay images for an input encoding."""
    return "bgr8" if encoding in ("bgr8", "bgra8") else "rgb8"


def blend(
    base: np.ndarray, encoding: str, color: np.ndarray, alpha: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The image ``base`` (in ``encoding``) and ``color`` (in its display order) mixed by
    ``alpha``, written into ``out`` when given."""
    base = np.ascontiguousarray(base)
    if encoding in _TO_DISPLAY:
        base = cv2.cvtColor(base, _TO_DISPLAY[encoding][1], dst=out)
    return cv2.addWeighted(base, 1.0 - alpha, color, alpha, 0.0, dst=out)
