"""Accumulate scored frames: the confusion matrix and a few frames to show."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from fanet_ros.labels import LabelSet
from fanet_ros.metrics import ConfusionMatrix
from fanet_ros.preprocessing import resize_labels


@dataclass(frozen=True)
class FrameSample:
    """One evaluated frame kept for the report's picture grid."""

    stamp: str
    image: np.ndarray | None
    """``[H, W, 3]`` uint8 RGB input, when the evaluator saw it."""
    ground_truth: np.ndarray | None
    """``None`` for a frame without ground truth."""
    prediction: np.ndarray
    """At the ground truth's size where there is one."""


class FrameScorer:
    """Scores prediction / ground-truth pairs with :class:`fanet_ros.metrics.ConfusionMatrix`."""

    def __init__(self, label_set: LabelSet, max_samples: int = 4) -> None:
        self.label_set = label_set
        self.confusion = ConfusionMatrix(label_set.num_classes, label_set.ignore_label)
        self.samples: deque[FrameSample] = deque(maxlen=max_samples)
        self.frames = 0

    def add(
        self,
        ground_truth: np.ndarray,
        prediction: np.ndarray,
        sample: tuple[str, np.ndarray | None] | None = None,
    ) -> None:
        """Score one frame at the ground truth's resolution, as benchmarks count pixels: a
        prediction of another size (``output_resolution: model``) is resized (nearest).

        ``sample`` = (stamp text, input image or None) keeps the frame for the report.
        """
        prediction = resize_labels(prediction, ground_truth.shape[0], ground_truth.shape[1])
        self.confusion.update(ground_truth, prediction)
        self.frames += 1
        if sample is not None:
            self.keep(FrameSample(sample[0], sample[1], ground_truth, prediction))

    def keep(self, sample: FrameSample) -> None:
        """Keep ``sample`` for the report (the newest ``max_samples`` stay)."""
        self.samples.append(sample)
