"""Compare two inference backends on the same frames: label agreement, outputs, latency.

``check_engine`` runs it with ONNX Runtime on the CPU as the reference and
the TensorRT engine as the candidate; any two :class:`InferenceBackend`
objects work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.runtime.base import InferenceBackend, labels_from_output
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.tensorrt.calibration_data import list_images, read_rgb

DEFAULT_MIN_AGREEMENT = {"fp32": 99.9, "fp16": 99.5, "int8": 97.0}
"""Per precision: the share of pixels (%) whose label must match ONNX Runtime on the CPU."""


class IncomparableBackends(ValueError):
    """The two backends do not run the same kind of model at the same size."""


@dataclass(frozen=True)
class Latency:
    """Milliseconds per ``infer`` call (host-to-device copy, inference and copy back)."""

    median_ms: float
    p95_ms: float

    @classmethod
    def from_seconds(cls, samples: list[float]) -> Latency:
        ms = 1000.0 * np.asarray(samples, dtype=np.float64)
        return cls(float(np.median(ms)), float(np.percentile(ms, 95)))


@dataclass(frozen=True)
class Comparison:
    """How closely ``candidate`` follows ``reference``."""

    reference: str
    candidate: str
    frames: int
    agreement_percent: float
    """Pixels with the same label, over all frames."""
    max_probability_difference: float | None
    """Largest absolute difference of class probabilities; ``None`` unless both output them."""
    reference_latency: Latency
    candidate_latency: Latency

    def passed(self, min_agreement_percent: float) -> bool:
        return self.agreement_percent >= min_agreement_percent

    def report(self) -> str:
        prob = (
            "n/a (a model outputs labels)" if self.max_probability_difference is None
            else f"{self.max_probability_difference:.5f}"
        )
        return "\n".join((
            f"frames:                     {self.frames}",
            f"label agreement:            {self.agreement_percent:.3f} %",
            f"max probability difference: {prob}",
            f"latency {self.reference}: median {self.reference_latency.median_ms:.2f} ms, "
            f"p95 {self.reference_latency.p95_ms:.2f} ms",
            f"latency {self.candidate}: median {self.candidate_latency.median_ms:.2f} ms, "
            f"p95 {self.candidate_latency.p95_ms:.2f} ms",
        ))


def compare_backends(
    reference: InferenceBackend,
    candidate: InferenceBackend,
    images: Iterable[DecodedImage],
    warmup: int = 3,
) -> Comparison:
    """Run every image through both backends (preprocessed once, as the node does)."""
    _check_comparable(reference, candidate)
    pipeline = SegmentationPipeline(reference)
    agree = total = frames = 0
    max_difference: float | None = None
    both_probabilities = reference.metadata.output == candidate.metadata.output == "probabilities"
    times: dict[str, list[float]] = {"reference": [], "candidate": []}
    for image in images:
        batch, _ = pipeline.preprocess(image)
        if frames == 0:
            for _ in range(warmup):
                reference.infer(batch)
                candidate.infer(batch)
        ref_out = _timed(reference, batch, times["reference"])
        cand_out = _timed(candidate, batch, times["candidate"])
        ref_labels = labels_from_output(ref_out, reference.metadata.output)
        cand_labels = labels_from_output(cand_out, candidate.metadata.output)
        agree += int(np.count_nonzero(ref_labels == cand_labels))
        total += ref_labels.size
        if both_probabilities:
            difference = float(np.max(np.abs(ref_out.astype(np.float32) - cand_out)))
            max_difference = max(difference, max_difference or 0.0)
        frames += 1
    if frames == 0:
        raise IncomparableBackends("no frames to compare")
    return Comparison(
        reference=_label(reference),
        candidate=_label(candidate),
        frames=frames,
        agreement_percent=100.0 * agree / total,
        max_probability_difference=max_difference,
        reference_latency=Latency.from_seconds(times["reference"]),
        candidate_latency=Latency.from_seconds(times["candidate"]),
    )


def _label(backend: InferenceBackend) -> str:
    return f"{backend.name} on {backend.device} ({backend.model_path.name})"


def _timed(backend: InferenceBackend, batch: np.ndarray, samples: list[float]) -> np.ndarray:
    start = time.perf_counter()
    output = backend.infer(batch)
    samples.append(time.perf_counter() - start)
    return output


def _check_comparable(reference: InferenceBackend, candidate: InferenceBackend) -> None:
    ref_size = (reference.input_height, reference.input_width)
    cand_size = (candidate.input_height, candidate.input_width)
    if ref_size != cand_size:
        raise IncomparableBackends(f"input sizes differ: {ref_size} and {cand_size} (HxW)")
    if reference.metadata.num_classes != candidate.metadata.num_classes:
        raise IncomparableBackends(
            f"class counts differ: {reference.metadata.num_classes} and "
            f"{candidate.metadata.num_classes}"
        )


def synthetic_frames(count: int, height: int, width: int, seed: int = 0) -> Iterator[DecodedImage]:
    """Smooth random RGB frames (coloured blobs, not pixel noise) at ``height`` x ``width``."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        coarse = rng.integers(0, 256, size=(max(height // 16, 2), max(width // 16, 2), 3))
        pixels = cv2.resize(coarse.astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
        yield DecodedImage(pixels=pixels, encoding="rgb8")


def folder_frames(folder: str | Path, limit: int = 0) -> Iterator[DecodedImage]:
    """The images of a folder (sorted), as RGB frames."""
    for path in list_images(folder, limit):
        yield DecodedImage(pixels=read_rgb(path), encoding="rgb8")
