"""Frames of several cameras through one model: one inference call where the backend allows.

Each camera keeps its own :class:`~fanet_ros.segmentation_pipeline.SegmentationPipeline`
(its buffers, its stage times); they share one backend, so one model (one engine) serves all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.runtime.base import InferenceBackend, NonFiniteOutputError
from fanet_ros.segmentation_pipeline import FrameOutputs, SegmentationPipeline


@dataclass
class FrameRequest:
    """One camera's frame and the outputs it needs."""

    pipeline: SegmentationPipeline
    image: DecodedImage
    want_labels: bool = True
    want_color: bool = True
    want_overlay: bool = True
    at_input_resolution: bool = True
    want_confidence: bool = False


FrameResult = FrameOutputs | NonFiniteOutputError
"""A frame's outputs, or why the model gave none for it (the other frames still count)."""


def batch_capacity(backend: InferenceBackend) -> int:
    """How many frames one inference call may take: the batch dimension of an ONNX Runtime
    model's input (dynamic: any number); 1 for other backends (TensorRT engines are built
    for batch 1)."""
    session = getattr(backend, "session", None) if backend.name == "onnxruntime" else None
    if session is None:
        return 1
    dim = session.get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) and dim > 0 else 2**31 - 1


class BatchRunner:
    """Runs the frames of several cameras, batched up to :attr:`capacity` frames a call."""

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend
        self.capacity = batch_capacity(backend)
        self._batches: dict[int, np.ndarray] = {}

    def run(self, requests: Sequence[FrameRequest]) -> list[FrameResult]:
        """The result of each request, in order; one inference call per :attr:`capacity`
        frames. A batch's inference time is shared equally among its frames' stage times."""
        results: list[FrameResult] = []
        for start in range(0, len(requests), self.capacity):
            results += self._run_one_call(requests[start:start + self.capacity])
        return results

    def _run_one_call(self, requests: Sequence[FrameRequest]) -> list[FrameResult]:
        if len(requests) == 1:  # the single-camera path: exactly what the pipeline does alone
            return [_outputs(requests[0], None, None)]
        h, w = self.backend.input_height, self.backend.input_width
        batch = self._batch(len(requests), h, w)
        resized = []
        for row, request in zip(batch, requests):
            t0 = time.perf_counter()
            resized.append(request.pipeline.preprocess(request.image, out=row)[1])
            request.pipeline.times.add("preprocess", time.perf_counter() - t0)
        t1 = time.perf_counter()
        output = self.backend.infer(batch)
        share = (time.perf_counter() - t1) / len(requests)
        results = []
        for i, request in enumerate(requests):
            request.pipeline.times.add("inference", share)
            results.append(_outputs(request, resized[i], output[i:i + 1]))
        return results

    def _batch(self, size: int, height: int, width: int) -> np.ndarray:
        batch = self._batches.get(size)
        if batch is None or batch.shape[1:3] != (height, width):
            batch = self._batches[size] = np.empty((size, height, width, 3), np.float32)
        return batch


def _outputs(
    request: FrameRequest, resized: np.ndarray | None, output: np.ndarray | None
) -> FrameResult:
    """Postprocess ``output`` (or run the whole frame when it is ``None``)."""
    wants = (request.want_labels, request.want_color, request.want_overlay,
             request.at_input_resolution, request.want_confidence)
    try:
        if output is None or resized is None:
            return request.pipeline.process(request.image, *wants)
        return request.pipeline.postprocess(request.image, resized, output, *wants)
    except NonFiniteOutputError as exc:
        return exc
