"""Segment images from Python, without ROS: ``Segmenter(...)(image).labels``.

The node runs frames through the same object (:attr:`Segmenter.pipeline`), so a
script sees exactly the labels the node publishes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fanet_ros.image_conversion import CHANNELS, DecodedImage
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.runtime.select import create_backend
from fanet_ros.segmentation_pipeline import SegmentationPipeline, blend, display_encoding
from fanet_ros.shipped_models import resolve_model


class Segmentation:
    """One image's result. ``labels`` is computed; ``color`` and ``overlay`` on first use."""

    def __init__(
        self, image: DecodedImage, labels: np.ndarray, confidence: np.ndarray | None,
        segmenter: Segmenter,
    ) -> None:
        self.image = image
        self.labels = labels
        """``[H, W]`` uint8 class ids at the input's size; 255 = unknown."""
        self.confidence = confidence
        """``[H, W]`` uint8, 255 x the winning class's probability; ``None`` unless asked for
        (``segmenter(image, confidence=True)``) or for a model that outputs labels only."""
        self.encoding = display_encoding(image.encoding)
        """Channel order of :attr:`color` and :attr:`overlay`: ``bgr8`` for a bgr8 input
        (ready for ``cv2.imwrite``), else ``rgb8``."""
        self._segmenter = segmenter

    @cached_property
    def color(self) -> np.ndarray:
        """``[H, W, 3]`` uint8 class colours in :attr:`encoding` order."""
        return self._segmenter.pipeline.colorizer(self.labels, self.encoding)

    @cached_property
    def overlay(self) -> np.ndarray:
        """The input with the class colours blended in (``overlay_alpha``)."""
        return blend(self.image.pixels, self.image.encoding, self.color,
                     self._segmenter.pipeline.overlay_alpha)

    def class_fractions(self) -> dict[str, float]:
        """Share of the image's pixels per class name (classes present only)."""
        counts = np.bincount(self.labels.ravel(), minlength=256)
        total = self.labels.size
        names = self._segmenter.class_names
        return {names[i]: float(counts[i] / total) for i in range(len(names)) if counts[i]}


class Segmenter:
    """A loaded model: call it on an image to get a :class:`Segmentation`.

    ``model``: ``None`` (the shipped default), a shipped name such as ``fanet_camvid``, or
    the path of a model exported by ``fanet-export``. ``backend``: ``auto`` (TensorRT when
    usable, else ONNX Runtime), ``onnxruntime`` or ``tensorrt``. ``device``: CUDA device
    index; -1 runs on the CPU only. Further keywords are the node's parameters of the same
    name (``input_height``, ``input_width``, ``num_threads``, ``precision``,
    ``engine_cache_dir``, ``workspace_mb``, ``int8_calibration_dir``).

    Calls from several threads are safe and take turns (one model, one set of buffers); for
    frames in parallel, give each thread its own ``Segmenter``. ``close()`` (or ``with``) frees
    the model at once; a dropped ``Segmenter`` frees it when garbage-collected.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        device: int = 0,
        *,
        overlay_alpha: float = 0.5,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        **options: Any,
    ) -> None:
        if device < 0:
            if backend == "tensorrt":
                raise ValueError("backend 'tensorrt' needs a CUDA device (device >= 0)")
            backend = "onnxruntime"
        config = BackendConfig(model_path=resolve_model(model), backend=backend,
                               gpu_device=device, **options)
        self.pipeline = SegmentationPipeline(create_backend(config, log, warn), overlay_alpha)
        self._turn = threading.Lock()
        self.backend = self.pipeline.backend
        self.metadata = self.pipeline.metadata
        self.class_names: tuple[str, ...] = self.metadata.class_names
        self.colors: tuple[tuple[int, int, int], ...] = self.metadata.colors
        """Class colours as RGB triples, by class id."""

    @property
    def model_path(self) -> Path:
        return self.backend.model_path

    def __call__(
        self, image: np.ndarray | str | Path, encoding: str = "bgr8", confidence: bool = False
    ) -> Segmentation:
        """Segment one image: an ``[H, W, 3]`` (or ``[H, W, 4]``) uint8 array in
        ``encoding`` order, an ``[H, W]`` or ``[H, W, 1]`` mono8 array, or an image file's
        path."""
        decoded = as_decoded_image(image, encoding)
        if not isinstance(image, (str, Path)):
            # the caller's frame: its overlay is drawn later, when the caller may have reused it
            decoded = DecodedImage(np.array(decoded.pixels), decoded.encoding)
        with self._turn:  # one set of pipeline buffers: threads take turns
            out = self.pipeline.process(decoded, want_color=False, want_overlay=False,
                                        want_confidence=confidence)
            labels = np.array(out.labels)  # the pipeline reuses its buffers
            conf = None if out.confidence is None else np.array(out.confidence)
        return Segmentation(decoded, labels, conf, self)

    def close(self) -> None:
        with self._turn:  # not under a call in another thread
            self.backend.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def as_decoded_image(image: np.ndarray | str | Path, encoding: str = "bgr8") -> DecodedImage:
    """An array or image file as a :class:`DecodedImage`; files are read as bgr8."""
    if isinstance(image, (str, Path)):
        pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if pixels is None:
            state = "does not exist" if not Path(image).exists() else "is not a readable image"
            raise FileNotFoundError(f"image file '{image}' {state}")
        return DecodedImage(pixels, "bgr8")
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {pixels.dtype} (scale it to 0..255)")
    if pixels.ndim == 2:
        return DecodedImage(pixels[:, :, None], "mono8")
    if pixels.ndim == 3 and pixels.shape[2] == 1:  # cv2.imread(..., IMREAD_GRAYSCALE)[..., None]
        return DecodedImage(pixels, "mono8")
    channels = CHANNELS.get(encoding)
    if channels is None:
        raise ValueError(f"encoding must be one of {', '.join(CHANNELS)}, not {encoding!r}")
    if pixels.ndim != 3 or pixels.shape[2] != channels:
        raise ValueError(f"a {encoding} image is [H, W, {channels}], not {list(pixels.shape)}")
    return DecodedImage(pixels, encoding)
